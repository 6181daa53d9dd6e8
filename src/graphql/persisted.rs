//! Apollo's automatic persisted queries (APQ), for requests over HTTP (`GET` and `POST`).
//!
//! A client (Apollo Client, urql, Apollo Kotlin and iOS…) sends `extensions.persistedQuery { version: 1,
//! sha256Hash }` with no `query`: the SHA-256 of a document it sent before, in lower-case hex. When this
//! process knows the hash, the request runs the document registered under it; when it does not, the answer
//! is the error Apollo defines, message `PersistedQueryNotFound` and `extensions.code`
//! `PERSISTED_QUERY_NOT_FOUND`, and the client sends the request again with the text and the hash, which
//! registers the text. A text is registered only under its own hash (the hash is computed here and compared
//! with the one sent; a mismatch is BAD_USER_INPUT), so no request can make a hash stand for another
//! document.
//!
//! What is remembered is the text only, by its hash: a request naming a hash runs exactly as if it had
//! sent the text — admitted by `crate::graphql::limits` (whose own cache may already hold the text
//! parsed), validated by async-graphql (types, depth, complexity), costed, authorized and executed for its
//! caller. Nothing remembered here depends on a caller. Bounded by entries (`CAPCOM_PERSISTED_QUERY_ENTRIES`) and by
//! [`PERSISTED_QUERIES_MAX_BYTES`]; texts longer than [`crate::graphql::limits::ADMITTED_DOCUMENT_MAX_TEXT`]
//! are not registered (their clients keep sending the text, which Apollo's protocol handles), nor are
//! texts outside the document limits `crate::graphql::limits::admit` checks before parsing (tokens,
//! fragments, fields, directives, aliases), whose literal inputs it refuses (a NUL, an overlong list),
//! or that do not parse: those are run, and refused, as sent. A
//! text that parses but fails the schema's validation (an unknown field, too deep) is registered and
//! refused each time it is named, at the cost of that validation. See
//! `docs/limits.md`, "Persisted queries".

use std::sync::Arc;

use async_graphql::{ErrorExtensionValues, ServerError, Value as GraphqlValue};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::bounded::BoundedMap;
use crate::error::ApiError;
use crate::graphql::limits::{self, ADMITTED_DOCUMENT_MAX_TEXT, DocumentLimits};

/// The message of the error Apollo clients answer by sending the text with the hash.
pub const NOT_FOUND_MESSAGE: &str = "PersistedQueryNotFound";
/// The `extensions.code` of that error (Apollo's, not one of SPEC §7's codes: clients rely on it).
pub const NOT_FOUND_CODE: &str = "PERSISTED_QUERY_NOT_FOUND";
/// The message of the error telling Apollo clients to stop sending hashes (persisted queries are off).
pub const NOT_SUPPORTED_MESSAGE: &str = "PersistedQueryNotSupported";
/// The `extensions.code` of that error (Apollo's).
pub const NOT_SUPPORTED_CODE: &str = "PERSISTED_QUERY_NOT_SUPPORTED";

/// At most this many bytes of registered text are remembered (each entry counted as its text plus
/// `ENTRY_OVERHEAD`).
pub const PERSISTED_QUERIES_MAX_BYTES: usize = 16 * 1024 * 1024;

/// What an entry is counted as besides its text: the key, the `Arc` and the cache's own bookkeeping.
const ENTRY_OVERHEAD: usize = 128;

/// The field BAD_USER_INPUT names for a malformed `extensions.persistedQuery`.
const FIELD: &str = "extensions.persistedQuery";

/// The SHA-256 of a document's text, as `extensions.persistedQuery.sha256Hash` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct QueryHash([u8; 32]);

impl QueryHash {
    /// The hash of `text` (of its UTF-8 bytes, as Apollo's clients compute it).
    pub fn of(text: &str) -> QueryHash {
        QueryHash(Sha256::digest(text.as_bytes()).into())
    }

    /// Reads 64 hexadecimal digits (either case).
    pub fn from_hex(text: &str) -> Option<QueryHash> {
        fn digit(byte: u8) -> Option<u8> {
            match byte {
                b'0'..=b'9' => Some(byte - b'0'),
                b'a'..=b'f' => Some(byte - b'a' + 10),
                b'A'..=b'F' => Some(byte - b'A' + 10),
                _ => None,
            }
        }
        let bytes = text.as_bytes();
        if bytes.len() != 64 {
            return None;
        }
        let mut hash = [0u8; 32];
        for (slot, pair) in hash.iter_mut().zip(bytes.chunks_exact(2)) {
            *slot = (digit(pair[0])? << 4) | digit(pair[1])?;
        }
        Some(QueryHash(hash))
    }
}

impl std::fmt::Display for QueryHash {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|byte| write!(formatter, "{byte:02x}"))
    }
}

/// The hash named by a request's `extensions` (the JSON object the client sent, if any): `None` when it
/// has no `persistedQuery` entry. BAD_USER_INPUT (field `extensions.persistedQuery`) when the entry is not
/// an object with `version` 1 and a `sha256Hash` of 64 hexadecimal digits.
pub fn requested_hash(extensions: Option<&Value>) -> Result<Option<QueryHash>, ApiError> {
    let Some(entry) = extensions.and_then(|extensions| extensions.get("persistedQuery")) else {
        return Ok(None);
    };
    if entry.is_null() {
        return Ok(None);
    }
    let Value::Object(entry) = entry else {
        return Err(ApiError::bad_input(FIELD, "extensions.persistedQuery must be an object"));
    };
    if entry.get("version").and_then(Value::as_u64) != Some(1) {
        return Err(ApiError::bad_input(
            format!("{FIELD}.version"),
            "Unsupported persisted query version: only version 1 is served",
        ));
    }
    let hash = entry.get("sha256Hash").and_then(Value::as_str).and_then(QueryHash::from_hex);
    match hash {
        Some(hash) => Ok(Some(hash)),
        None => Err(ApiError::bad_input(
            format!("{FIELD}.sha256Hash"),
            "extensions.persistedQuery.sha256Hash must be the document's SHA-256 as 64 hexadecimal digits",
        )),
    }
}

/// Why a request naming a persisted query cannot run.
#[derive(Debug, Clone)]
pub enum Unresolved {
    /// No text is registered under the hash (the client sends it again with the text).
    NotFound,
    /// Persisted queries are off in this process (`CAPCOM_PERSISTED_QUERY_ENTRIES=0`; the client stops sending
    /// hashes).
    NotSupported,
    /// The request is malformed, or its text does not have the hash it names.
    Invalid(ApiError),
}

impl Unresolved {
    /// Whether this is one of Apollo's own errors (answered with HTTP 200 whatever the media type, and
    /// not cached, as Apollo Server answers them).
    pub fn is_protocol(&self) -> bool {
        matches!(self, Unresolved::NotFound | Unresolved::NotSupported)
    }

    /// The request error to answer with. Apollo's two errors carry their code already; an
    /// [`ApiError`] gets its code from the error policy (`crate::graphql::errors::apply`).
    pub fn into_server_error(self) -> ServerError {
        let (message, code) = match self {
            Unresolved::NotFound => (NOT_FOUND_MESSAGE, NOT_FOUND_CODE),
            Unresolved::NotSupported => (NOT_SUPPORTED_MESSAGE, NOT_SUPPORTED_CODE),
            Unresolved::Invalid(error) => {
                let mut error = async_graphql::Error::from(error).into_server_error(async_graphql::Pos::default());
                error.locations.clear();
                return error;
            }
        };
        let mut error = ServerError::new(message, None);
        error
            .extensions
            .get_or_insert_with(ErrorExtensionValues::default)
            .set("code", GraphqlValue::String(code.to_owned()));
        error
    }
}

/// The documents registered by hash in this process (see the module documentation).
pub struct PersistedQueries {
    texts: BoundedMap<QueryHash, Arc<str>>,
    enabled: bool,
    /// The limits a text must be within to be registered (those `crate::graphql::limits::admit` checks
    /// before parsing): a text refused there is run (and refused) but never kept.
    limits: DocumentLimits,
}

impl PersistedQueries {
    /// A store holding at most `max_entries` texts (`CAPCOM_PERSISTED_QUERY_ENTRIES`; 0 turns persisted queries
    /// off) and [`PERSISTED_QUERIES_MAX_BYTES`].
    pub fn new(max_entries: usize, limits: DocumentLimits) -> Self {
        Self::with_bounds(max_entries, PERSISTED_QUERIES_MAX_BYTES, limits)
    }

    /// A store holding at most `max_entries` texts and `max_bytes` bytes, registering only texts within
    /// `limits`.
    pub fn with_bounds(max_entries: usize, max_bytes: usize, limits: DocumentLimits) -> Self {
        PersistedQueries {
            texts: BoundedMap::new(max_entries, max_bytes),
            enabled: max_entries > 0 && max_bytes > 0,
            limits,
        }
    }

    /// Whether `text` may be kept: short enough, within the document limits and parsed. (Checked once per
    /// registration, which a client sends once per document.)
    fn admissible(&self, text: &str) -> bool {
        text.len() <= ADMITTED_DOCUMENT_MAX_TEXT && limits::parse_within(text, self.limits).is_ok()
    }

    /// The text a request naming `hash` runs: its own `query` when it sent one (then registered under
    /// `hash`, which must be its hash), otherwise the text registered under `hash`.
    pub fn resolve(&self, query: Option<String>, hash: QueryHash) -> Result<String, Unresolved> {
        if !self.enabled {
            return Err(Unresolved::NotSupported);
        }
        match query.filter(|query| !query.is_empty()) {
            Some(query) => {
                if QueryHash::of(&query) != hash {
                    return Err(Unresolved::Invalid(ApiError::bad_input(
                        format!("{FIELD}.sha256Hash"),
                        "extensions.persistedQuery.sha256Hash is not the SHA-256 of the query sent with it",
                    )));
                }
                if self.admissible(&query) {
                    let bytes = query.len().saturating_add(ENTRY_OVERHEAD);
                    self.texts.insert(hash, Arc::from(query.as_str()), bytes);
                }
                Ok(query)
            }
            None => self.texts.get(&hash).map(|text| text.to_string()).ok_or(Unresolved::NotFound),
        }
    }

    /// How many texts are registered.
    pub fn len(&self) -> usize {
        self.texts.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `printf '{ __typename }' | sha256sum`, computed outside capcom.
    const TYPENAME: &str = "{ __typename }";
    const TYPENAME_SHA256: &str = "7f56e67dd21ab3f30d1ff8b7bed08893f0a0db86449836189b361dd1e56ddb4b";

    #[test]
    fn hashes_read_and_print_as_lower_case_hex() {
        let hash = QueryHash::of(TYPENAME);
        assert_eq!(hash.to_string(), TYPENAME_SHA256);
        assert_eq!(QueryHash::from_hex(TYPENAME_SHA256), Some(hash));
        assert_eq!(QueryHash::from_hex(&TYPENAME_SHA256.to_uppercase()), Some(hash));
        assert_eq!(QueryHash::from_hex(&TYPENAME_SHA256[1..]), None);
        assert_eq!(QueryHash::from_hex(&format!("{}g", &TYPENAME_SHA256[1..])), None);
        // Not a hex digit, though a valid UTF-8 byte pair: é is two bytes.
        assert_eq!(QueryHash::from_hex(&format!("é{}", &TYPENAME_SHA256[2..])), None);
    }

    #[test]
    fn the_extension_is_read_or_refused_naming_what_is_wrong() {
        let ok = json!({"persistedQuery": {"version": 1, "sha256Hash": TYPENAME_SHA256}});
        assert_eq!(requested_hash(Some(&ok)).ok().flatten(), QueryHash::from_hex(TYPENAME_SHA256));
        assert!(matches!(requested_hash(None), Ok(None)));
        assert!(matches!(requested_hash(Some(&json!({"other": 1}))), Ok(None)));
        let field = |extensions: Value| match requested_hash(Some(&extensions)) {
            Err(ApiError::BadUserInput { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(json!({"persistedQuery": "x"})), "extensions.persistedQuery");
        assert_eq!(
            field(json!({"persistedQuery": {"version": 2, "sha256Hash": TYPENAME_SHA256}})),
            "extensions.persistedQuery.version"
        );
        assert_eq!(field(json!({"persistedQuery": {"version": 1}})), "extensions.persistedQuery.sha256Hash");
    }

    #[test]
    fn a_text_is_registered_only_under_its_own_hash() {
        let store = PersistedQueries::with_bounds(2, 1 << 20, test_limits());
        let hash = QueryHash::of(TYPENAME);
        assert!(matches!(store.resolve(None, hash), Err(Unresolved::NotFound)));
        assert!(matches!(store.resolve(Some(String::new()), hash), Err(Unresolved::NotFound)));
        let other = QueryHash::of("{ self { id } }");
        assert!(matches!(store.resolve(Some(TYPENAME.to_owned()), other), Err(Unresolved::Invalid(_))));
        assert!(matches!(store.resolve(None, other), Err(Unresolved::NotFound)), "a mismatch registers nothing");
        assert_eq!(store.resolve(Some(TYPENAME.to_owned()), hash).ok().as_deref(), Some(TYPENAME));
        assert_eq!(store.resolve(None, hash).ok().as_deref(), Some(TYPENAME));
        assert_eq!(store.len(), 1);
        // Bounded by entries.
        for text in ["{ a }", "{ b }", "{ c }", "{ d }"] {
            assert!(store.resolve(Some(text.to_owned()), QueryHash::of(text)).is_ok());
        }
        assert!(store.len() <= 2, "{}", store.len());
        // Long texts run but are not registered.
        let long = format!("{{ {} }}", "a ".repeat(ADMITTED_DOCUMENT_MAX_TEXT));
        let long_hash = QueryHash::of(&long);
        assert!(store.resolve(Some(long.clone()), long_hash).is_ok());
        assert!(matches!(store.resolve(None, long_hash), Err(Unresolved::NotFound)));
    }

    fn test_limits() -> DocumentLimits {
        DocumentLimits {
            max_tokens: 200,
            max_fragments: 5,
            max_selections: 100,
            max_directives: 5,
            max_aliases: 5,
            max_list_items: 100,
        }
    }

    #[test]
    fn texts_outside_the_document_limits_or_that_do_not_parse_are_run_but_not_kept() {
        let store = PersistedQueries::with_bounds(10, 1 << 20, test_limits());
        let many_tokens = format!("{{ {} }}", "a ".repeat(300));
        let many_aliases = format!("{{ {} }}", (0..6).map(|n| format!("x{n}: a")).collect::<Vec<_>>().join(" "));
        for text in [many_tokens, many_aliases, "{ a ".to_owned()] {
            let hash = QueryHash::of(&text);
            assert_eq!(store.resolve(Some(text.clone()), hash).ok(), Some(text.clone()), "run as sent");
            assert!(matches!(store.resolve(None, hash), Err(Unresolved::NotFound)), "{text} not kept");
        }
        assert!(store.is_empty());
    }

    #[test]
    fn off_means_not_supported() {
        let store = PersistedQueries::new(0, test_limits());
        let hash = QueryHash::of(TYPENAME);
        assert!(matches!(store.resolve(None, hash), Err(Unresolved::NotSupported)));
        assert!(matches!(store.resolve(Some(TYPENAME.to_owned()), hash), Err(Unresolved::NotSupported)));
        let error = Unresolved::NotFound.into_server_error();
        assert_eq!(error.message, "PersistedQueryNotFound");
        let code = error.extensions.as_ref().and_then(|extensions| extensions.get("code").cloned());
        assert_eq!(code, Some(GraphqlValue::String("PERSISTED_QUERY_NOT_FOUND".to_owned())));
    }
}
