//! Managed domains: an organization claims an email domain and proves it by publishing a TXT record
//! whose value capcom generated. People with a verified address of a verified domain join that
//! organization as ORGANIZATION_MEMBER when they sign up or sign in (see docs/sso.md).
//!
//! Rules:
//! - a domain may be claimed by several organizations but verified by one only (a unique index);
//! - the DNS question is asked outside any transaction; the change is then made under a lock on the claim;
//! - joining by domain always grants ORGANIZATION_MEMBER: owning an address never makes anyone an owner.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde_json::json;
use uuid::Uuid;

use crate::db::models::organization::Organization;
use crate::db::models::organization_domain::OrganizationDomain;
use crate::db::models::user::User;
use crate::dns::TxtResolver;
use crate::domain::audit::{self, Change};
use crate::domain::{Actor, memberships};
use crate::error::{ApiError, ApiResult};

/// The label prepended to a domain to find its proof: `_capcom-challenge.example.com`.
pub const CHALLENGE_LABEL: &str = "_capcom-challenge";

/// What the TXT record's value starts with.
pub const VALUE_PREFIX: &str = "capcom-domain-verification=";

/// The name whose TXT records prove `domain`.
pub fn record_name(domain: &str) -> String {
    format!("{CHALLENGE_LABEL}.{domain}")
}

/// Audit snapshot of a claim.
pub fn snapshot(claim: &OrganizationDomain) -> serde_json::Value {
    json!({
        "id": claim.id,
        "domain": claim.domain,
        "verified": claim.verified_at.is_some(),
        "recordName": record_name(&claim.domain),
        "recordValue": claim.verification_value,
    })
}

/// A domain name as typed: trimmed, lower-cased, without a trailing dot; at least two labels of letters,
/// digits and inner hyphens, each at most 63 characters, 253 in all (RFC 1035 §2.3.1). `field` names the
/// argument in the error.
pub fn validate_domain(field: &str, raw: &str) -> ApiResult<String> {
    let domain = raw.trim().trim_end_matches('.').to_lowercase();
    let bad = || ApiError::bad_input(field, "Enter a domain name such as example.com");
    if domain.len() < 3 || domain.len() > 253 {
        return Err(bad());
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return Err(bad());
    }
    for label in &labels {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(bad());
        }
    }
    if labels.last().is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit())) {
        return Err(bad());
    }
    Ok(domain)
}

/// The domain of an email address (after its last `@`).
pub fn domain_of(address: &str) -> Option<&str> {
    address.rsplit_once('@').map(|(_, domain)| domain)
}

fn new_value() -> ApiResult<String> {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(ApiError::internal)?;
    Ok(format!("{VALUE_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

fn claim_conflict(error: diesel::result::Error) -> ApiError {
    use diesel::result::{DatabaseErrorKind, Error};
    match &error {
        Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => match info.constraint_name() {
            Some("organization_domains_claim_key") => {
                ApiError::conflict("The organization has already claimed this domain")
            }
            Some("organization_domains_verified_key") => {
                ApiError::conflict("Another organization has already verified this domain")
            }
            _ => ApiError::from(error),
        },
        _ => ApiError::from(error),
    }
}

/// Claims `domain` for organization `organization_id`. The claim holds the TXT value to publish.
pub async fn claim(
    conn: &mut AsyncPgConnection,
    organization_id: Uuid,
    domain: &str,
    actor: &Actor,
) -> ApiResult<OrganizationDomain> {
    let domain = validate_domain("domain", domain)?;
    let value = new_value()?;
    conn.transaction(async |tx| {
        Organization::find_for_update(tx, organization_id).await?.ok_or(ApiError::NotFound)?;
        if OrganizationDomain::verified(tx, &domain).await?.is_some_and(|c| c.organization_id != organization_id) {
            return Err(ApiError::conflict("Another organization has already verified this domain"));
        }
        let claim = OrganizationDomain::insert(tx, organization_id, &domain, &value, actor.user_id)
            .await
            .map_err(claim_conflict)?;
        audit::record(
            tx,
            actor,
            Change {
                action: "organization.domain.claim",
                target_type: "organizationDomain",
                target_id: Some(claim.id),
                organization_id: Some(organization_id),
                after: Some(snapshot(&claim)),
                ..Change::default()
            },
        )
        .await?;
        Ok(claim)
    })
    .await
}

async fn claim_of(
    conn: &mut AsyncPgConnection,
    organization_id: Uuid,
    domain_id: Uuid,
) -> ApiResult<OrganizationDomain> {
    OrganizationDomain::find_for_update(conn, domain_id)
        .await?
        .filter(|claim| claim.organization_id == organization_id)
        .ok_or(ApiError::NotFound)
}

/// Asks DNS for the claim's TXT record and marks the claim verified when one holds its value. Without the
/// record nothing changes and the answer (BAD_USER_INPUT on `domainUuid`) names the record to publish;
/// a DNS failure is UNAVAILABLE. Verifying a verified claim again checks again and changes nothing.
pub async fn verify(
    conn: &mut AsyncPgConnection,
    organization_id: Uuid,
    domain_id: Uuid,
    resolver: &dyn TxtResolver,
    now: DateTime<Utc>,
    actor: &Actor,
) -> ApiResult<OrganizationDomain> {
    let before = {
        let found = OrganizationDomain::of_organizations(conn, &[organization_id]).await?;
        found.into_iter().find(|claim| claim.id == domain_id).ok_or(ApiError::NotFound)?
    };
    let name = record_name(&before.domain);
    // Network I/O happens before the transaction, so no lock is held while DNS answers.
    let records = resolver.txt(&name).await.map_err(ApiError::unavailable)?;
    if !records.iter().any(|record| record.trim() == before.verification_value) {
        return Err(ApiError::bad_input(
            "domainUuid",
            format!(
                "No TXT record at {name} holds {}; publish it and try again (DNS changes can take a while to spread)",
                before.verification_value
            ),
        ));
    }
    conn.transaction(async |tx| {
        let current = claim_of(tx, organization_id, domain_id).await?;
        let verified_at = current.verified_at.or(Some(now));
        let after = OrganizationDomain::checked(tx, domain_id, now, verified_at).await.map_err(claim_conflict)?;
        audit::record(
            tx,
            actor,
            Change {
                action: "organization.domain.verify",
                target_type: "organizationDomain",
                target_id: Some(domain_id),
                organization_id: Some(organization_id),
                before: Some(snapshot(&current)),
                after: Some(snapshot(&after)),
                ..Change::default()
            },
        )
        .await?;
        Ok(after)
    })
    .await
}

/// Withdraws a claim. Members who joined through it stay members.
pub async fn delete(
    conn: &mut AsyncPgConnection,
    organization_id: Uuid,
    domain_id: Uuid,
    actor: &Actor,
) -> ApiResult<OrganizationDomain> {
    conn.transaction(async |tx| {
        let claim = claim_of(tx, organization_id, domain_id).await?;
        OrganizationDomain::delete(tx, domain_id).await?;
        audit::record(
            tx,
            actor,
            Change {
                action: "organization.domain.delete",
                target_type: "organizationDomain",
                target_id: Some(domain_id),
                organization_id: Some(organization_id),
                before: Some(snapshot(&claim)),
                ..Change::default()
            },
        )
        .await?;
        Ok(claim)
    })
    .await
}

/// The claims of the given organizations, by domain (one statement).
pub async fn of_organizations(
    conn: &mut AsyncPgConnection,
    organization_ids: &[Uuid],
) -> ApiResult<Vec<OrganizationDomain>> {
    Ok(OrganizationDomain::of_organizations(conn, organization_ids).await?)
}

/// The organization that verified the domain of `address`, if one did.
pub async fn verified_owner(conn: &mut AsyncPgConnection, address: &str) -> ApiResult<Option<Uuid>> {
    let Some(domain) = domain_of(address) else { return Ok(None) };
    Ok(OrganizationDomain::verified(conn, domain).await?.map(|claim| claim.organization_id))
}

/// Makes `user_id` an ORGANIZATION_MEMBER of every organization that verified the domain of one of the
/// user's verified addresses, that the user does not belong to yet and was not removed from (SPEC §2:
/// removals stick). Caller's transaction; the organizations are locked in id order. Returns the
/// organizations joined.
pub async fn join_by_domain(tx: &mut AsyncPgConnection, user_id: Uuid) -> ApiResult<Vec<Uuid>> {
    let mut organizations: Vec<Uuid> = OrganizationDomain::verified_for_user(tx, user_id)
        .await?
        .into_iter()
        .map(|claim| claim.organization_id)
        .collect();
    organizations.sort();
    organizations.dedup();
    let mut joined = Vec::new();
    for organization_id in organizations {
        if memberships::join_by_domain(tx, organization_id, user_id).await? {
            joined.push(organization_id);
        }
    }
    Ok(joined)
}

/// Records one `organization.user.join` event per organization joined by domain, each filed under that
/// organization (tenancy, SPEC §2).
pub async fn record_joins(tx: &mut AsyncPgConnection, actor: &Actor, user: &User, joined: &[Uuid]) -> ApiResult<()> {
    for organization_id in joined {
        audit::record(
            tx,
            actor,
            Change {
                action: "organization.user.join",
                target_type: "user",
                target_id: Some(user.id),
                organization_id: Some(*organization_id),
                after: Some(json!({"userId": user.id, "username": user.username, "joinedByDomain": true})),
                ..Change::default()
            },
        )
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_normalized_and_garbage_is_refused() {
        assert_eq!(validate_domain("d", " Example.COM. ").ok().as_deref(), Some("example.com"));
        assert_eq!(validate_domain("d", "a-b.example.co.uk").ok().as_deref(), Some("a-b.example.co.uk"));
        for bad in ["", "com", "-a.com", "a-.com", "a..com", "exa mple.com", "ex_ample.com", "1.2.3.4", "é.com"] {
            assert!(validate_domain("d", bad).is_err(), "{bad}");
        }
        assert!(validate_domain("d", &format!("{}.com", "a".repeat(64))).is_err());
    }

    #[test]
    fn values_are_fresh_and_carry_the_prefix() {
        let (a, b) = (new_value().unwrap_or_default(), new_value().unwrap_or_default());
        assert!(a.starts_with(VALUE_PREFIX) && a != b && a.len() > VALUE_PREFIX.len() + 30);
    }
}
