//! Organization IP access lists (docs/ip-access-list.md; issue 26 §5).
//!
//! An organization may list the CIDR ranges (IPv4 and IPv6) its objects may be reached from. The list is
//! replaced as a whole. It is enforced by the decision procedure, not here: the principal query reads each
//! binding's organization's list with the binding, and [`crate::auth::Principal::behind`] sets aside every
//! binding whose list does not hold the request's address, so no path to the organization's objects can
//! use it. This module validates and stores the list, and refuses a list that would shut out the caller's
//! own address.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use ipnet::IpNet;
use serde_json::json;
use uuid::Uuid;

use crate::db::models::organization::Organization;
use crate::domain::Actor;
use crate::domain::audit::{self, Change};
use crate::error::{ApiError, ApiResult};
use crate::rbac::binding::{list_admits, stored_ranges};

/// The argument a list is given in.
pub const FIELD: &str = "cidrs";

/// At most this many ranges in one list.
pub const MAX_RANGES: usize = 200;

/// The longest entry of an IP access list, in characters.
pub const MAX_RANGE_TEXT: usize = 64;

/// The ranges of `cidrs` in canonical form (`192.0.2.0/24`, `2001:db8::/32`), in the order given without
/// repeats. A bare address is a one-address range (`/32`, `/128`); host bits are cleared (`192.0.2.7/24`
/// is `192.0.2.0/24`); IPv4-mapped IPv6 ranges are not accepted (write the IPv4 range). BAD_USER_INPUT
/// naming `cidrs` for anything else, or more than [`MAX_RANGES`].
pub fn parse(cidrs: &[String]) -> ApiResult<Vec<IpNet>> {
    if cidrs.len() > MAX_RANGES {
        return Err(ApiError::bad_input(FIELD, format!("An IP access list holds at most {MAX_RANGES} ranges")));
    }
    let mut ranges: Vec<IpNet> = Vec::with_capacity(cidrs.len());
    for (index, text) in cidrs.iter().enumerate() {
        let text = text.trim();
        // The longest range text is an IPv6 address with a prefix (under 50 characters); a longer entry is
        // refused without being repeated in the answer.
        if text.chars().count() > MAX_RANGE_TEXT {
            return Err(ApiError::bad_input(
                FIELD,
                format!("cidrs[{index}] is longer than {MAX_RANGE_TEXT} characters: not a CIDR range"),
            ));
        }
        let range = text
            .parse::<IpNet>()
            .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
            .map_err(|_| {
                ApiError::bad_input(
                    FIELD,
                    format!("cidrs[{index}] ({text:?}) is not a CIDR range such as 192.0.2.0/24 or 2001:db8::/32"),
                )
            })?
            .trunc();
        if let IpNet::V6(v6) = range {
            if v6.addr().to_ipv4_mapped().is_some() {
                return Err(ApiError::bad_input(
                    FIELD,
                    format!("cidrs[{index}] ({text:?}) is an IPv4-mapped range: write the IPv4 range"),
                ));
            }
        }
        if !ranges.contains(&range) {
            ranges.push(range);
        }
    }
    Ok(ranges)
}

/// Whether a request from `client` (the address as the trusted proxies report it) may act on
/// organization `organization_id`'s objects without a binding: accepting an invite or signing up with one
/// (docs/ip-access-list.md). `None` (an invite of no organization) always may. A stored range that does
/// not parse admits nobody, as for bindings.
pub async fn admits(
    conn: &mut AsyncPgConnection,
    organization_id: Option<Uuid>,
    client: Option<&str>,
) -> ApiResult<bool> {
    let Some(id) = organization_id else { return Ok(true) };
    let list = Organization::ip_access_list(conn, id).await?.unwrap_or_default();
    let ranges = stored_ranges(list.iter().map(String::as_str));
    let client = client.and_then(|text| text.parse::<IpAddr>().ok());
    Ok(list_admits(&ranges, client))
}

/// The IP access list of organization `id` (canonical CIDR texts; empty: reachable from anywhere).
/// NOT_FOUND when there is no such organization.
pub async fn get(conn: &mut AsyncPgConnection, id: Uuid) -> ApiResult<Vec<String>> {
    Organization::ip_access_list(conn, id).await?.ok_or(ApiError::NotFound)
}

/// Replaces the IP access list of organization `id` with `cidrs` (see [`parse`]); an empty list lifts it.
/// A non-empty list must hold the address the request comes from (`actor.client_address`, as the
/// operator's trusted proxies report it), else BAD_USER_INPUT naming `cidrs` and nothing changes: no one
/// locks themselves out. One transaction: the organization row is locked, the list written, and an
/// `organization.ipAccessList.update` audit event with the lists before and after recorded. Returns the
/// list as stored.
pub async fn replace(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    cidrs: &[String],
    now: DateTime<Utc>,
    actor: &Actor,
) -> ApiResult<Vec<String>> {
    let ranges = parse(cidrs)?;
    let client = actor.client_address.as_deref().and_then(|text| text.parse::<IpAddr>().ok());
    if !list_admits(&ranges, client) {
        let address = client.map(|a| a.to_canonical().to_string()).unwrap_or_else(|| "unknown".to_owned());
        return Err(ApiError::bad_input(
            FIELD,
            format!(
                "The list does not include this request's address ({address}): add a range holding it, so that \
                 you do not lock yourself out"
            ),
        ));
    }
    let list: Vec<String> = ranges.iter().map(ToString::to_string).collect();
    conn.transaction(async |tx| {
        Organization::find_for_update(tx, id).await?.ok_or(ApiError::NotFound)?;
        let before = Organization::ip_access_list(tx, id).await?.unwrap_or_default();
        write(tx, id, &before, &list, now, actor).await?;
        Ok(list.clone())
    })
    .await
}

/// Lifts the IP access list of organization `id` (`capcom lift-ip-access-list`, docs/ip-access-list.md):
/// the way back in for owners a list shuts out, as when their address changed, run by the installation's
/// operator where the server runs. The change [`replace`] makes with an empty list, with its audit event
/// by `actor`, in one transaction that also reads the list it removes (the organization row locked);
/// nothing at all when there is no list. Returns the list as it was; NOT_FOUND for no such organization.
pub async fn lift(conn: &mut AsyncPgConnection, id: Uuid, now: DateTime<Utc>, actor: &Actor) -> ApiResult<Vec<String>> {
    conn.transaction(async |tx| {
        Organization::find_for_update(tx, id).await?.ok_or(ApiError::NotFound)?;
        let before = Organization::ip_access_list(tx, id).await?.unwrap_or_default();
        if before.is_empty() {
            return Ok(before);
        }
        write(tx, id, &before, &[], now, actor).await?;
        Ok(before)
    })
    .await
}

/// Stores `list` as organization `id`'s IP access list (the row locked by the caller) with its
/// `organization.ipAccessList.update` audit event holding the lists before and after.
async fn write(
    tx: &mut AsyncPgConnection,
    id: Uuid,
    before: &[String],
    list: &[String],
    now: DateTime<Utc>,
    actor: &Actor,
) -> ApiResult<()> {
    Organization::set_ip_access_list(tx, id, list, now).await?;
    audit::record(
        tx,
        actor,
        Change {
            action: "organization.ipAccessList.update",
            target_type: "organization",
            target_id: Some(id),
            organization_id: Some(id),
            before: Some(json!({ "cidrs": before })),
            after: Some(json!({ "cidrs": list })),
            ..Change::default()
        },
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn ranges_are_canonical_and_bad_ones_name_the_field() {
        let parsed = parse(&texts(&["192.0.2.7/24", "198.51.100.9", "2001:db8::1/32", " 192.0.2.0/24 "])).unwrap();
        let shown: Vec<String> = parsed.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["192.0.2.0/24", "198.51.100.9/32", "2001:db8::/32"]);
        for bad in ["", "192.0.2.0/33", "example.com", "::ffff:192.0.2.0/120"] {
            match parse(&texts(&[bad])) {
                Err(ApiError::BadUserInput { field, .. }) => assert_eq!(field, FIELD),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn an_overlong_entry_is_refused_without_being_repeated() {
        let long = "x".repeat(100_000);
        match parse(&texts(&["192.0.2.0/24", &long])) {
            Err(ApiError::BadUserInput { field, message }) => {
                assert_eq!(field, FIELD);
                assert!(message.starts_with("cidrs[1] is longer than 64"), "{message}");
                assert!(message.len() < 100, "the entry is not repeated: {} bytes", message.len());
            }
            other => panic!("{other:?}"),
        }
        let longest = "2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff/128";
        assert!(parse(&texts(&[longest])).is_ok());
    }
}
