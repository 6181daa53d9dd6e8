//! `organization_domains`: email domains organizations claim and prove through DNS.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::schema::{emails, organization_domains};

/// A claimed domain.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = organization_domains, check_for_backend(diesel::pg::Pg))]
pub struct OrganizationDomain {
    /// Primary key.
    pub id: Uuid,
    /// The claiming organization.
    pub organization_id: Uuid,
    /// Lower-case domain name (`example.com`).
    pub domain: String,
    /// The value the TXT record must hold.
    pub verification_value: String,
    /// When the TXT record was found; `None` while the claim is unproven.
    pub verified_at: Option<DateTime<Utc>>,
    /// When DNS was last asked.
    pub last_checked_at: Option<DateTime<Utc>>,
    /// Who claimed it.
    pub created_by: Option<Uuid>,
    /// When it was claimed.
    pub created_at: DateTime<Utc>,
}

impl OrganizationDomain {
    /// Inserts a claim.
    pub async fn insert(
        conn: &mut AsyncPgConnection,
        organization_id: Uuid,
        domain: &str,
        verification_value: &str,
        created_by: Option<Uuid>,
    ) -> QueryResult<OrganizationDomain> {
        diesel::insert_into(organization_domains::table)
            .values((
                organization_domains::id.eq(Uuid::now_v7()),
                organization_domains::organization_id.eq(organization_id),
                organization_domains::domain.eq(domain),
                organization_domains::verification_value.eq(verification_value),
                organization_domains::created_by.eq(created_by),
            ))
            .returning(OrganizationDomain::as_returning())
            .get_result(conn)
            .await
    }

    /// The claim with this id, locked.
    pub async fn find_for_update(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<OrganizationDomain>> {
        organization_domains::table
            .find(id)
            .for_update()
            .select(OrganizationDomain::as_select())
            .first(conn)
            .await
            .optional()
    }

    /// The claims of the given organizations, by domain.
    pub async fn of_organizations(
        conn: &mut AsyncPgConnection,
        organization_ids: &[Uuid],
    ) -> QueryResult<Vec<OrganizationDomain>> {
        organization_domains::table
            .filter(organization_domains::organization_id.eq_any(organization_ids))
            .order((organization_domains::domain, organization_domains::id))
            .select(OrganizationDomain::as_select())
            .load(conn)
            .await
    }

    /// The verified claim of `domain`, if any organization proved it.
    pub async fn verified(conn: &mut AsyncPgConnection, domain: &str) -> QueryResult<Option<OrganizationDomain>> {
        organization_domains::table
            .filter(organization_domains::domain.eq(domain))
            .filter(organization_domains::verified_at.is_not_null())
            .select(OrganizationDomain::as_select())
            .first(conn)
            .await
            .optional()
    }

    /// The verified claims of the domains of `user_id`'s verified addresses (one statement).
    pub async fn verified_for_user(
        conn: &mut AsyncPgConnection,
        user_id: Uuid,
    ) -> QueryResult<Vec<OrganizationDomain>> {
        let addresses: Vec<String> = emails::table
            .filter(emails::user_id.eq(user_id))
            .filter(emails::verified.eq(true))
            .select(emails::address)
            .load(conn)
            .await?;
        let domains: Vec<String> =
            addresses.iter().filter_map(|a| a.rsplit_once('@').map(|(_, d)| d.to_owned())).collect();
        if domains.is_empty() {
            return Ok(Vec::new());
        }
        organization_domains::table
            .filter(organization_domains::domain.eq_any(domains))
            .filter(organization_domains::verified_at.is_not_null())
            .order(organization_domains::domain)
            .select(OrganizationDomain::as_select())
            .load(conn)
            .await
    }

    /// Records a check; `verified_at` is set when the record was found (and kept when it was before).
    pub async fn checked(
        conn: &mut AsyncPgConnection,
        id: Uuid,
        now: DateTime<Utc>,
        verified_at: Option<DateTime<Utc>>,
    ) -> QueryResult<OrganizationDomain> {
        diesel::update(organization_domains::table.find(id))
            .set((organization_domains::last_checked_at.eq(now), organization_domains::verified_at.eq(verified_at)))
            .returning(OrganizationDomain::as_returning())
            .get_result(conn)
            .await
    }

    /// Deletes a claim.
    pub async fn delete(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<usize> {
        diesel::delete(organization_domains::table.find(id)).execute(conn).await
    }
}
