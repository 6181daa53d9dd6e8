//! `Organization` and `OrganizationMembership`.

use async_graphql::{Context, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use crate::domain::organizations::OrganizationRow;
use crate::graphql::authz::{Readable, Scoped, access, charged};
use crate::graphql::scalars::Uuid;
use crate::graphql::types::user::User;
use crate::rbac::Role;
use crate::rbac::operations::FieldRule;

/// The top-level tenant: holds workspaces, teams, clusters and API keys. Only made from an organization
/// the caller may read.
pub struct Organization(Readable<OrganizationRow>);

impl From<Readable<OrganizationRow>> for Organization {
    fn from(organization: Readable<OrganizationRow>) -> Self {
        Organization(organization)
    }
}

impl Organization {
    /// Billing details are shown to those who may change them (and to system viewers).
    async fn sees_billing(&self, ctx: &Context<'_>) -> Result<bool> {
        let permissions = FieldRule::OrganizationBilling.permissions();
        Ok(access(ctx)?.allows(permissions, self.0.ancestry()).await?)
    }
}

/// An organization.
#[Object]
impl Organization {
    /// The organization's id.
    async fn id(&self) -> Uuid {
        self.0.id.into()
    }

    /// Name, unique in the installation.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// Description.
    async fn description(&self, ctx: &Context<'_>) -> Result<&str> {
        Ok(charged(ctx, &self.0.description)?)
    }

    /// Whether sign-ups without an invite join this organization.
    async fn is_default(&self) -> bool {
        self.0.is_default
    }

    /// Billing contact (null unless the caller may change billing details).
    async fn billing_email(&self, ctx: &Context<'_>) -> Result<Option<&str>> {
        Ok(if self.sees_billing(ctx).await? { self.0.billing_email.as_deref() } else { None })
    }

    /// Company named on invoices (null unless the caller may change billing details).
    async fn billing_company(&self, ctx: &Context<'_>) -> Result<Option<&str>> {
        Ok(if self.sees_billing(ctx).await? { self.0.billing_company.as_deref() } else { None })
    }

    /// Billing plan (null unless the caller may change billing details).
    async fn billing_plan(&self, ctx: &Context<'_>) -> Result<Option<&str>> {
        Ok(if self.sees_billing(ctx).await? { self.0.billing_plan.as_deref() } else { None })
    }

    /// What the caller may do in this organization (from the operation table).
    async fn organization_capabilities(&self, ctx: &Context<'_>) -> Result<OrganizationCapabilities> {
        use crate::rbac::operations::*;
        let access = access(ctx)?;
        let at = self.0.ancestry();
        Ok(OrganizationCapabilities {
            can_update_organization: access.may(&UPDATE_ORGANIZATION, at).await?,
            can_update_billing: access.allows(FieldRule::OrganizationBillingUpdate.permissions(), at).await?,
            can_invite_user: access.may(&ORGANIZATION_INVITE_USER, at).await?,
            can_update_iam: access.may(&ORGANIZATION_UPDATE_USER_ROLE, at).await?,
            can_manage_teams: access.may(&CREATE_TEAM, at).await?,
            can_create_workspace: access.may(&CREATE_WORKSPACE, at).await?,
            can_manage_clusters: access.may(&CREATE_CLUSTER, at).await?,
            can_get_audit_logs: access.may(&AUDIT_EVENTS, at).await?,
        })
    }

    /// Creation time.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// Last change.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// What the caller may do in an organization.
#[derive(SimpleObject)]
#[graphql(rename_fields = "camelCase")]
pub struct OrganizationCapabilities {
    /// `updateOrganization`.
    pub can_update_organization: bool,
    /// Change billing details (`organization.billing.update`).
    pub can_update_billing: bool,
    /// `organizationInviteUser`.
    pub can_invite_user: bool,
    /// `organizationUpdateUserRole`.
    #[graphql(name = "canUpdateIAM")]
    pub can_update_iam: bool,
    /// `createTeam` (and the other team operations).
    pub can_manage_teams: bool,
    /// `createWorkspace`.
    pub can_create_workspace: bool,
    /// `createCluster` (dedicated clusters).
    pub can_manage_clusters: bool,
    /// `auditEvents` of the organization.
    pub can_get_audit_logs: bool,
}

/// A member of an organization and the role they hold there.
#[derive(SimpleObject)]
pub struct OrganizationMembership {
    /// The member.
    pub user: User,
    /// Their organization role.
    pub role: Role,
}
