//! Managed domains: claim, verify and withdraw an organization's email domains.

use async_graphql::{Context, Object, Result};

use crate::domain::managed_domains;
use crate::graphql::authz::{Op, access};
use crate::graphql::context::{actor, conn, state};
use crate::graphql::scalars::Uuid;
use crate::graphql::types::organization_domain::OrganizationDomain;

/// Managed-domain queries.
#[derive(Default)]
pub struct ManagedDomainQuery;

#[Object(guard = "Op")]
impl ManagedDomainQuery {
    /// The domains the organization claims, verified or not, by name.
    async fn organization_domains(
        &self,
        ctx: &Context<'_>,
        organization_uuid: Uuid,
    ) -> Result<Vec<OrganizationDomain>> {
        let id = organization_uuid.required("organizationUuid")?;
        let rows = {
            let mut conn = conn(ctx).await?;
            crate::domain::organizations::get(&mut conn, id).await?;
            managed_domains::of_organizations(&mut conn, &[id]).await?
        };
        Ok(access(ctx)?.admit_all(rows).await?.into_iter().map(OrganizationDomain).collect())
    }
}

/// Managed-domain mutations.
#[derive(Default)]
pub struct ManagedDomainMutation;

#[Object(guard = "Op")]
impl ManagedDomainMutation {
    /// Claims an email domain for the organization. The answer holds the TXT record to publish; then call
    /// `verifyOrganizationDomain`. A domain another organization verified cannot be claimed (CONFLICT).
    async fn claim_organization_domain(
        &self,
        ctx: &Context<'_>,
        organization_uuid: Uuid,
        domain: String,
    ) -> Result<OrganizationDomain> {
        let id = organization_uuid.required("organizationUuid")?;
        let claim = {
            let mut conn = conn(ctx).await?;
            managed_domains::claim(&mut conn, id, &domain, &actor(ctx)).await?
        };
        Ok(OrganizationDomain(access(ctx)?.admit_one(claim).await?))
    }

    /// Looks the claim's TXT record up in DNS and marks the domain verified when it holds the value.
    /// Without the record nothing changes and the error names the record to publish.
    async fn verify_organization_domain(
        &self,
        ctx: &Context<'_>,
        organization_uuid: Uuid,
        domain_uuid: Uuid,
    ) -> Result<OrganizationDomain> {
        let id = organization_uuid.required("organizationUuid")?;
        let domain = domain_uuid.required("domainUuid")?;
        let state = state(ctx)?;
        let now = state.clock.now();
        let claim = {
            let mut conn = conn(ctx).await?;
            managed_domains::verify(&mut conn, id, domain, state.dns.as_ref(), now, &actor(ctx)).await?
        };
        Ok(OrganizationDomain(access(ctx)?.admit_one(claim).await?))
    }

    /// Withdraws a claim; people who joined through it stay members. Returns the claim as it was.
    async fn delete_organization_domain(
        &self,
        ctx: &Context<'_>,
        organization_uuid: Uuid,
        domain_uuid: Uuid,
    ) -> Result<OrganizationDomain> {
        let id = organization_uuid.required("organizationUuid")?;
        let domain = domain_uuid.required("domainUuid")?;
        let claim = {
            let mut conn = conn(ctx).await?;
            managed_domains::delete(&mut conn, id, domain, &actor(ctx)).await?
        };
        Ok(OrganizationDomain(access(ctx)?.admit_one(claim).await?))
    }
}
