//! Relay cursor connections (SPEC §6: every new list is one): `first`/`after`, `pageInfo`, `totalCount`.
//! Cursors are opaque: the keyset position of the edge (its sort key and id), base64url-encoded JSON.

use async_graphql::SimpleObject;
use async_graphql::connection::{Connection, Edge, EmptyFields};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ApiResult};

/// The connection's extra field.
#[derive(SimpleObject)]
pub struct TotalCount {
    /// How many items the whole list holds.
    pub total_count: i64,
}

/// A connection of `Node`s with string cursors and a total count.
pub type Page<Node> = Connection<String, Node, TotalCount, EmptyFields>;

/// Items per page when `first` is not given.
pub const DEFAULT_PAGE: usize = 20;
/// Most items one page returns.
pub const MAX_PAGE: usize = 100;

/// The page size asked for: `first` (1 to 100, default 20); anything else is BAD_USER_INPUT.
pub fn page_size(first: Option<i32>) -> ApiResult<usize> {
    match first {
        None => Ok(DEFAULT_PAGE),
        Some(n) if (1..=MAX_PAGE as i32).contains(&n) => Ok(n as usize),
        Some(_) => Err(ApiError::bad_input("first", format!("first must be between 1 and {MAX_PAGE}"))),
    }
}

/// Encodes a keyset position as a cursor.
pub fn cursor<K: Serialize>(key: &K) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(key).unwrap_or_default())
}

/// Decodes the `after` cursor; a cursor this server did not make is BAD_USER_INPUT.
pub fn after<K: DeserializeOwned>(after: Option<&str>) -> ApiResult<Option<K>> {
    let Some(text) = after.filter(|t| !t.is_empty()) else { return Ok(None) };
    let bad = || ApiError::bad_input("after", "This cursor was not made by this list");
    let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| bad())?;
    serde_json::from_slice(&bytes).map(Some).map_err(|_| bad())
}

/// Builds a page from `rows` read with `limit + 1` (the extra row says another page follows), turning each
/// kept row into its node and cursor.
pub fn page<Row, Node: async_graphql::OutputType>(
    mut rows: Vec<Row>,
    limit: usize,
    had_cursor: bool,
    total_count: i64,
    mut edge: impl FnMut(Row) -> (String, Node),
) -> Page<Node> {
    let has_next_page = rows.len() > limit;
    rows.truncate(limit);
    let mut connection = Connection::with_additional_fields(had_cursor, has_next_page, TotalCount { total_count });
    connection.edges.extend(rows.into_iter().map(|row| {
        let (cursor, node) = edge(row);
        Edge::new(cursor, node)
    }));
    connection
}
