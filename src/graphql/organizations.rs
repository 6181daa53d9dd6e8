//! Organization queries and mutations.

use async_graphql::{Context, InputObject, Object, Result};
use uuid::Uuid as RawUuid;

use crate::domain::organizations::{self, InviteOutcome, OrganizationUpdate};
use crate::graphql::authz::{Member, Op, access};
use crate::graphql::context::{actor, conn, principal, state};
use crate::graphql::scalars::Uuid;
use crate::graphql::types::connection::{self, Page};
use crate::graphql::types::invite::Invite;
use crate::graphql::types::organization::{Organization, OrganizationMembership};
use crate::graphql::types::user::User;
use crate::graphql::workspaces::invite_settings;
use crate::rbac::{Ancestry, Role};

/// Changes to an organization; absent fields keep their value, and an empty billing field clears it.
#[derive(InputObject, Default)]
pub struct OrganizationInput {
    /// Name, unique in the installation.
    pub name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Billing contact (needs `organization.billing.update`).
    pub billing_email: Option<String>,
    /// Company named on invoices (needs `organization.billing.update`).
    pub billing_company: Option<String>,
    /// Billing plan (needs `organization.billing.update`).
    pub billing_plan: Option<String>,
}

fn clearable(value: Option<String>) -> Option<Option<String>> {
    value.map(|text| Some(text.trim().to_owned()).filter(|t| !t.is_empty()))
}

/// Organization queries.
#[derive(Default)]
pub struct OrganizationQuery;

/// Organization `id` as the caller may read it (NOT_FOUND when it does not exist).
async fn readable(ctx: &Context<'_>, id: RawUuid) -> Result<Organization> {
    let row = {
        let mut conn = conn(ctx).await?;
        organizations::get(&mut conn, id).await?
    };
    Ok(Organization::from(access(ctx)?.admit_one(row).await?))
}

#[Object(guard = "Op")]
impl OrganizationQuery {
    /// The organizations the caller belongs to. With `all: true`, every organization of the installation
    /// (needs `system.organizations.get`).
    async fn organizations(&self, ctx: &Context<'_>, all: Option<bool>) -> Result<Vec<Organization>> {
        let access = access(ctx)?;
        let limit = state(ctx)?.config.list_cap;
        let rows = {
            let mut conn = conn(ctx).await?;
            if all == Some(true) {
                organizations::list(&mut conn, None, limit).await?
            } else {
                organizations::list(&mut conn, Some(&access.reach()?.organizations), limit).await?
            }
        };
        Ok(access.admit_all(rows).await?.into_iter().map(Organization::from).collect())
    }

    /// One organization.
    async fn organization(&self, ctx: &Context<'_>, organization_uuid: Uuid) -> Result<Organization> {
        readable(ctx, organization_uuid.required("organizationUuid")?).await
    }

    /// The organization's IP access list: the CIDR ranges (IPv4 and IPv6, canonical form such as
    /// `192.0.2.0/24`) every request acting on the organization's objects must come from. Empty: from
    /// anywhere. See docs/ip-access-list.md.
    async fn organization_ip_access_list(&self, ctx: &Context<'_>, organization_uuid: Uuid) -> Result<Vec<String>> {
        let id = organization_uuid.required("organizationUuid")?;
        let mut conn = conn(ctx).await?;
        Ok(crate::domain::ip_access::get(&mut conn, id).await?)
    }

    /// The organization's members and their roles, by username (a Relay connection).
    async fn organization_users(
        &self,
        ctx: &Context<'_>,
        organization_uuid: Uuid,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Page<OrganizationMembership>> {
        let id = organization_uuid.required("organizationUuid")?;
        let limit = connection::page_size(first)?;
        let position: Option<(String, RawUuid)> = connection::after(after.as_deref())?;
        let had_cursor = position.is_some();
        let (rows, total) = {
            let mut conn = conn(ctx).await?;
            organizations::get(&mut conn, id).await?;
            let rows = organizations::members(&mut conn, id, position, limit).await?;
            (rows, organizations::member_count(&mut conn, id).await?)
        };
        let access = access(ctx)?;
        let via = Ancestry::organization(id);
        let roles: std::collections::HashMap<RawUuid, Role> = rows.iter().map(|(u, r)| (u.id, *r)).collect();
        let members = rows.into_iter().map(|(user, _)| Member { user, via }).collect();
        let pairs: Vec<(String, OrganizationMembership)> = access
            .admit_all(members)
            .await?
            .into_iter()
            .filter_map(|member| {
                let role = *roles.get(&member.user.id)?;
                let cursor = connection::cursor(&(member.user.username.clone(), member.user.id));
                Some((cursor, OrganizationMembership { user: User::from(member), role }))
            })
            .collect();
        Ok(connection::page(pairs, limit, had_cursor, total, |pair| pair))
    }
}

/// Organization mutations.
#[derive(Default)]
pub struct OrganizationMutation;

#[Object(guard = "Op")]
impl OrganizationMutation {
    /// Creates an organization; the caller becomes its owner. System admins only, unless the operator lets
    /// anyone create one (`CAPCOM_ORG_SELF_SERVICE`).
    async fn create_organization(
        &self,
        ctx: &Context<'_>,
        name: String,
        description: Option<String>,
    ) -> Result<Organization> {
        let caller = principal(ctx);
        let creator = caller.user()?.user.id;
        let created = {
            let mut conn = conn(ctx).await?;
            organizations::create(&mut conn, &name, description.as_deref(), creator, &actor(ctx)).await?
        };
        let access = access(ctx)?;
        access.reload().await?;
        Ok(Organization::from(access.admit_one(created).await?))
    }

    /// Changes an organization's settings; billing details also need `organization.billing.update`.
    async fn update_organization(
        &self,
        ctx: &Context<'_>,
        organization_uuid: Uuid,
        payload: OrganizationInput,
    ) -> Result<Organization> {
        let id = organization_uuid.required("organizationUuid")?;
        let update = OrganizationUpdate {
            name: payload.name,
            description: payload.description,
            billing_email: clearable(payload.billing_email),
            billing_company: clearable(payload.billing_company),
            billing_plan: clearable(payload.billing_plan),
        };
        let access = access(ctx)?;
        let authority = access.authority()?;
        let now = state(ctx)?.clock.now();
        let updated = {
            let mut conn = conn(ctx).await?;
            organizations::update(&mut conn, id, update, &authority, now, &actor(ctx)).await?
        };
        Ok(Organization::from(access.admit_one(updated).await?))
    }

    /// Replaces the organization's IP access list with `cidrs` (CIDR ranges or single addresses, IPv4 or
    /// IPv6; an empty list lifts it) and answers the list as stored. Once set, every request acting on the
    /// organization's objects must come from a listed range, else FORBIDDEN naming the list; system
    /// administrators' installation-level operations are not subject to it. BAD_USER_INPUT naming `cidrs`
    /// for a malformed range, or for a list that does not hold this request's own address (nothing
    /// changes). Needs `organization.authentication.update` (owners). See docs/ip-access-list.md.
    async fn update_organization_ip_access_list(
        &self,
        ctx: &Context<'_>,
        organization_uuid: Uuid,
        cidrs: Vec<String>,
    ) -> Result<Vec<String>> {
        let id = organization_uuid.required("organizationUuid")?;
        let now = state(ctx)?.clock.now();
        let mut conn = conn(ctx).await?;
        Ok(crate::domain::ip_access::replace(&mut conn, id, &cidrs, now, &actor(ctx)).await?)
    }

    /// Invites a person to the organization with `role` (default ORGANIZATION_MEMBER). An invite is mailed
    /// whether or not the address has an account, and the answer is the same either way, so it never
    /// tells who is registered; its token is only in the mail. The person joins by accepting it
    /// (`acceptInvite`, or signing up through the mail's link). An address of a member already is
    /// CONFLICT. The caller must be able to grant `role` (SPEC §2 grant rule): checked now, and again
    /// against the inviter as they are when the invite is accepted. One of an organization's first three
    /// joins becomes ORGANIZATION_OWNER (the founders' rule) only if the inviter could grant that role.
    async fn organization_invite_user(
        &self,
        ctx: &Context<'_>,
        organization_uuid: Uuid,
        email: String,
        #[graphql(default_with = "Role::OrganizationMember")] role: Role,
    ) -> Result<OrganizationInvitation> {
        let id = organization_uuid.required("organizationUuid")?;
        let settings = invite_settings(state(ctx)?);
        let access = access(ctx)?;
        let authority = access.authority()?;
        let outcome = {
            let mut conn = conn(ctx).await?;
            organizations::invite_user(&mut conn, id, &email, role, &authority, &settings, &actor(ctx)).await?
        };
        Ok(match outcome {
            InviteOutcome::Invited(created) => {
                let invite = Invite::listed(access.admit_one(created.invite).await?);
                OrganizationInvitation { role: None, invite: Some(invite) }
            }
        })
    }

    /// Changes a member's organization role; returns it. The last owner cannot be demoted.
    async fn organization_update_user_role(
        &self,
        ctx: &Context<'_>,
        organization_uuid: Uuid,
        user_uuid: Uuid,
        role: Role,
    ) -> Result<Role> {
        let id = organization_uuid.required("organizationUuid")?;
        let user = user_uuid.required("userUuid")?;
        let authority = access(ctx)?.authority()?;
        let mut conn = conn(ctx).await?;
        Ok(organizations::update_user_role(&mut conn, id, user, role, &authority, &actor(ctx)).await?)
    }

    /// Removes a member, with their roles on the organization's workspaces and deployments and their places
    /// in its teams. The last owner cannot leave. Returns `true`.
    async fn organization_remove_user(
        &self,
        ctx: &Context<'_>,
        organization_uuid: Uuid,
        user_uuid: Uuid,
    ) -> Result<bool> {
        let id = organization_uuid.required("organizationUuid")?;
        let user = user_uuid.required("userUuid")?;
        let authority = access(ctx)?.authority()?;
        let mut conn = conn(ctx).await?;
        organizations::remove_user(&mut conn, id, user, &authority, &actor(ctx)).await?;
        Ok(true)
    }
}

/// What `organizationInviteUser` did: the invite it mailed. Nobody is added without accepting an invite,
/// so `role` is always null; it stays for clients that read it.
#[derive(async_graphql::SimpleObject)]
pub struct OrganizationInvitation {
    /// Always null: the person holds no role until they accept the invite (kept for clients that read it).
    pub role: Option<Role>,
    /// The invite mailed to them, whether or not they have an account; its token is only in the mail.
    pub invite: Option<Invite>,
}
