//! `OrganizationDomain`: an email domain an organization claims.

use async_graphql::Object;
use chrono::{DateTime, Utc};

use crate::db::models::organization_domain::OrganizationDomain as Row;
use crate::domain::managed_domains::record_name;
use crate::graphql::authz::Readable;
use crate::graphql::scalars::Uuid;

/// A claimed email domain. Only made from a claim the caller may read (`organization.config.get`).
pub struct OrganizationDomain(pub Readable<Row>);

/// An email domain an organization claims. Once a TXT record at `recordName` holds `recordValue` and
/// `verifyOrganizationDomain` found it, people with a verified address of the domain join the organization
/// as members when they sign up or sign in.
#[Object]
impl OrganizationDomain {
    /// The claim's id.
    async fn id(&self) -> Uuid {
        self.0.id.into()
    }

    /// The organization that claims it.
    async fn organization_id(&self) -> Uuid {
        self.0.organization_id.into()
    }

    /// The domain, lower-case (`example.com`).
    async fn domain(&self) -> &str {
        &self.0.domain
    }

    /// Whether the TXT record was found.
    async fn verified(&self) -> bool {
        self.0.verified_at.is_some()
    }

    /// When the TXT record was found.
    async fn verified_at(&self) -> Option<DateTime<Utc>> {
        self.0.verified_at
    }

    /// When DNS was last asked.
    async fn last_checked_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_checked_at
    }

    /// The DNS name to publish the TXT record at (`_capcom-challenge.example.com`).
    async fn record_name(&self) -> String {
        record_name(&self.0.domain)
    }

    /// The TXT record's value.
    async fn record_value(&self) -> &str {
        &self.0.verification_value
    }

    /// When it was claimed.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}
