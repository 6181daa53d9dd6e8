//! Service-account queries and mutations, with Houston's names and arguments.

use async_graphql::{Context, Json, Object, Result};

use crate::domain::memberships::RoleRequest;
use crate::domain::service_accounts::{self, AccountScope, AccountUpdate, NewAccountRequest};
use crate::error::ApiError;
use crate::graphql::authz::{Access, Op, access};
use crate::graphql::context::{actor, conn, principal, state};
use crate::graphql::payload::Payload;
use crate::graphql::scalars::Uuid;
use crate::graphql::types::service_account::ServiceAccount;
use crate::rbac::Role;

async fn list(access: &Access, rows: Vec<service_accounts::ServiceAccount>) -> Result<Vec<ServiceAccount>> {
    Ok(access.admit_all(rows).await?.into_iter().map(ServiceAccount::listed).collect())
}

/// Reads Houston's update `payload`: `label`, `category`, `role`, `active`, and capcom's `customRoleUuid`
/// (a custom role instead of `role`, docs/custom-roles.md).
fn account_update(payload: Option<Json<serde_json::Value>>) -> Result<AccountUpdate, ApiError> {
    let Some(Json(payload)) = payload else { return Ok(AccountUpdate::default()) };
    let payload = Payload::parse(&payload, &["label", "category", "role", "active", "customRoleUuid"], "this update")?;
    let builtin = payload
        .text("role")?
        .map(|text| text.parse::<Role>().map_err(|e| ApiError::bad_input("payload.role", e.to_string())))
        .transpose()?;
    let custom = payload
        .text("customRoleUuid")?
        .filter(|text| !text.trim().is_empty())
        .map(|text| {
            text.trim()
                .parse::<uuid::Uuid>()
                .map_err(|_| ApiError::bad_input("payload.customRoleUuid", "payload.customRoleUuid must be a UUID"))
        })
        .transpose()?;
    let role = match (builtin, custom) {
        (None, None) => None,
        // Named inside `payload`, where the client sent them.
        (builtin, custom) => Some(RoleRequest::from_arguments(builtin, custom, None).map_err(|e| e.within("payload"))?),
    };
    Ok(AccountUpdate {
        label: payload.text("label")?,
        category: payload.text("category")?,
        role,
        active: payload.boolean("active")?,
    })
}

async fn create(
    ctx: &Context<'_>,
    scope: AccountScope,
    label: String,
    category: Option<String>,
    role: RoleRequest,
    expires_in_days: Option<i32>,
) -> Result<ServiceAccount> {
    let state = state(ctx)?;
    let creator = principal(ctx).user().ok().map(|u| u.user.id);
    let request = NewAccountRequest { label, category, role, expires_in_days: expires_in_days.map(i64::from) };
    let access = access(ctx)?;
    let authority = access.authority()?;
    let mut conn = conn(ctx).await?;
    let created = service_accounts::create(
        &mut conn,
        scope,
        request,
        state.config.sa_max_days,
        &authority,
        creator,
        state.clock.now(),
        &actor(ctx),
    )
    .await?;
    drop(conn);
    Ok(ServiceAccount::with_key(access.admit_one(created.account).await?, created.key))
}

/// One service account of `scope`.
async fn get_in(ctx: &Context<'_>, scope: AccountScope, id: Uuid) -> Result<ServiceAccount> {
    let mut conn = conn(ctx).await?;
    let account = service_accounts::get(&mut conn, scope, id.required("serviceAccountUuid")?).await?;
    drop(conn);
    Ok(ServiceAccount::listed(access(ctx)?.admit_one(account).await?))
}

/// Applies Houston's update `payload` to a service account of `scope`.
async fn update_in(
    ctx: &Context<'_>,
    scope: AccountScope,
    id: Uuid,
    payload: Option<Json<serde_json::Value>>,
) -> Result<ServiceAccount> {
    let id = id.required("serviceAccountUuid")?;
    let update = account_update(payload)?;
    let now = state(ctx)?.clock.now();
    let authority = access(ctx)?.authority()?;
    let mut conn = conn(ctx).await?;
    let account = service_accounts::update(&mut conn, scope, id, update, &authority, now, &actor(ctx)).await?;
    drop(conn);
    Ok(ServiceAccount::listed(access(ctx)?.admit_one(account).await?))
}

/// Deletes a service account of `scope`.
async fn delete_in(ctx: &Context<'_>, scope: AccountScope, id: Uuid) -> Result<ServiceAccount> {
    let id = id.required("serviceAccountUuid")?;
    let authority = access(ctx)?.authority()?;
    let mut conn = conn(ctx).await?;
    let account = service_accounts::delete(&mut conn, scope, id, &authority, &actor(ctx)).await?;
    drop(conn);
    Ok(ServiceAccount::listed(access(ctx)?.admit_one(account).await?))
}

/// Service-account queries.
#[derive(Default)]
pub struct ServiceAccountQuery;

#[Object(guard = "Op")]
impl ServiceAccountQuery {
    /// API keys of a workspace.
    async fn workspace_service_accounts(&self, ctx: &Context<'_>, workspace_uuid: Uuid) -> Result<Vec<ServiceAccount>> {
        let id = workspace_uuid.required("workspaceUuid")?;
        let mut conn = conn(ctx).await?;
        let rows = service_accounts::list(&mut conn, AccountScope::Workspace(id)).await?;
        drop(conn);
        list(access(ctx)?, rows).await
    }

    /// One API key of a workspace (NOT_FOUND if it belongs elsewhere).
    async fn workspace_service_account(
        &self,
        ctx: &Context<'_>,
        workspace_uuid: Uuid,
        service_account_uuid: Uuid,
    ) -> Result<ServiceAccount> {
        get_in(ctx, AccountScope::Workspace(workspace_uuid.required("workspaceUuid")?), service_account_uuid).await
    }

    /// API keys of a deployment.
    async fn deployment_service_accounts(
        &self,
        ctx: &Context<'_>,
        deployment_uuid: Uuid,
    ) -> Result<Vec<ServiceAccount>> {
        let id = deployment_uuid.required("deploymentUuid")?;
        let mut conn = conn(ctx).await?;
        let rows = service_accounts::list(&mut conn, AccountScope::Deployment(id)).await?;
        drop(conn);
        list(access(ctx)?, rows).await
    }

    /// One API key of a deployment (NOT_FOUND if it belongs elsewhere).
    async fn deployment_service_account(
        &self,
        ctx: &Context<'_>,
        deployment_uuid: Uuid,
        service_account_uuid: Uuid,
    ) -> Result<ServiceAccount> {
        get_in(ctx, AccountScope::Deployment(deployment_uuid.required("deploymentUuid")?), service_account_uuid).await
    }

    /// API keys of an organization.
    async fn organization_service_accounts(
        &self,
        ctx: &Context<'_>,
        organization_uuid: Uuid,
    ) -> Result<Vec<ServiceAccount>> {
        let id = organization_uuid.required("organizationUuid")?;
        let mut conn = conn(ctx).await?;
        let rows = service_accounts::list(&mut conn, AccountScope::Organization(id)).await?;
        drop(conn);
        list(access(ctx)?, rows).await
    }

    /// One API key of an organization (NOT_FOUND if it belongs elsewhere).
    async fn organization_service_account(
        &self,
        ctx: &Context<'_>,
        organization_uuid: Uuid,
        service_account_uuid: Uuid,
    ) -> Result<ServiceAccount> {
        let scope = AccountScope::Organization(organization_uuid.required("organizationUuid")?);
        get_in(ctx, scope, service_account_uuid).await
    }

    /// System API keys.
    async fn system_service_accounts(&self, ctx: &Context<'_>) -> Result<Vec<ServiceAccount>> {
        let mut conn = conn(ctx).await?;
        let rows = service_accounts::list(&mut conn, AccountScope::System).await?;
        drop(conn);
        list(access(ctx)?, rows).await
    }
}

/// Service-account mutations.
#[derive(Default)]
pub struct ServiceAccountMutation;

#[Object(guard = "Op")]
impl ServiceAccountMutation {
    /// Creates a workspace API key with `role` or, instead, the custom workspace role `customRoleUuid`
    /// (docs/custom-roles.md); the key is in `apiKey` of this response only.
    #[allow(clippy::too_many_arguments)] // Houston's arguments, plus customRoleUuid.
    async fn create_workspace_service_account(
        &self,
        ctx: &Context<'_>,
        label: String,
        category: Option<String>,
        workspace_uuid: Uuid,
        role: Option<Role>,
        expires_in_days: Option<i32>,
        custom_role_uuid: Option<Uuid>,
    ) -> Result<ServiceAccount> {
        let role = RoleRequest::from_arguments(role, custom_role_uuid.and_then(Uuid::get), None)?;
        create(
            ctx,
            AccountScope::Workspace(workspace_uuid.required("workspaceUuid")?),
            label,
            category,
            role,
            expires_in_days,
        )
        .await
    }

    /// Creates a deployment API key with `role` or, instead, the custom deployment role `customRoleUuid`;
    /// the key is in `apiKey` of this response only.
    #[allow(clippy::too_many_arguments)] // Houston's arguments, plus customRoleUuid.
    async fn create_deployment_service_account(
        &self,
        ctx: &Context<'_>,
        label: String,
        category: Option<String>,
        deployment_uuid: Uuid,
        role: Option<Role>,
        expires_in_days: Option<i32>,
        custom_role_uuid: Option<Uuid>,
    ) -> Result<ServiceAccount> {
        let role = RoleRequest::from_arguments(role, custom_role_uuid.and_then(Uuid::get), None)?;
        create(
            ctx,
            AccountScope::Deployment(deployment_uuid.required("deploymentUuid")?),
            label,
            category,
            role,
            expires_in_days,
        )
        .await
    }

    /// Creates an organization API key; the key is in `apiKey` of this response only.
    async fn create_organization_service_account(
        &self,
        ctx: &Context<'_>,
        label: String,
        category: Option<String>,
        organization_uuid: Uuid,
        role: Role,
        expires_in_days: Option<i32>,
    ) -> Result<ServiceAccount> {
        let scope = AccountScope::Organization(organization_uuid.required("organizationUuid")?);
        create(ctx, scope, label, category, RoleRequest::from_arguments(Some(role), None, None)?, expires_in_days).await
    }

    /// Changes an organization API key (`payload`: label, category, role, active).
    async fn update_organization_service_account(
        &self,
        ctx: &Context<'_>,
        service_account_uuid: Uuid,
        organization_uuid: Uuid,
        payload: Option<Json<serde_json::Value>>,
    ) -> Result<ServiceAccount> {
        let scope = AccountScope::Organization(organization_uuid.required("organizationUuid")?);
        update_in(ctx, scope, service_account_uuid, payload).await
    }

    /// Deletes an organization API key.
    async fn delete_organization_service_account(
        &self,
        ctx: &Context<'_>,
        service_account_uuid: Uuid,
        organization_uuid: Uuid,
    ) -> Result<ServiceAccount> {
        delete_in(
            ctx,
            AccountScope::Organization(organization_uuid.required("organizationUuid")?),
            service_account_uuid,
        )
        .await
    }

    /// Creates a system API key; the key is in `apiKey` of this response only.
    async fn create_system_service_account(
        &self,
        ctx: &Context<'_>,
        label: String,
        category: Option<String>,
        role: Role,
        expires_in_days: Option<i32>,
    ) -> Result<ServiceAccount> {
        let role = RoleRequest::from_arguments(Some(role), None, None)?;
        create(ctx, AccountScope::System, label, category, role, expires_in_days).await
    }

    /// Changes a workspace API key (`payload`: label, category, role, active).
    async fn update_workspace_service_account(
        &self,
        ctx: &Context<'_>,
        service_account_uuid: Uuid,
        workspace_uuid: Uuid,
        payload: Option<Json<serde_json::Value>>,
    ) -> Result<ServiceAccount> {
        let scope = AccountScope::Workspace(workspace_uuid.required("workspaceUuid")?);
        update_in(ctx, scope, service_account_uuid, payload).await
    }

    /// Changes a deployment API key (`payload`: label, category, role, active).
    async fn update_deployment_service_account(
        &self,
        ctx: &Context<'_>,
        service_account_uuid: Uuid,
        deployment_uuid: Uuid,
        payload: Option<Json<serde_json::Value>>,
    ) -> Result<ServiceAccount> {
        let scope = AccountScope::Deployment(deployment_uuid.required("deploymentUuid")?);
        update_in(ctx, scope, service_account_uuid, payload).await
    }

    /// Deletes a workspace API key.
    async fn delete_workspace_service_account(
        &self,
        ctx: &Context<'_>,
        service_account_uuid: Uuid,
        workspace_uuid: Uuid,
    ) -> Result<ServiceAccount> {
        delete_in(ctx, AccountScope::Workspace(workspace_uuid.required("workspaceUuid")?), service_account_uuid).await
    }

    /// Deletes a deployment API key.
    async fn delete_deployment_service_account(
        &self,
        ctx: &Context<'_>,
        service_account_uuid: Uuid,
        deployment_uuid: Uuid,
    ) -> Result<ServiceAccount> {
        delete_in(ctx, AccountScope::Deployment(deployment_uuid.required("deploymentUuid")?), service_account_uuid)
            .await
    }

    /// Deletes a system API key.
    async fn delete_system_service_account(
        &self,
        ctx: &Context<'_>,
        service_account_uuid: Uuid,
    ) -> Result<ServiceAccount> {
        delete_in(ctx, AccountScope::System, service_account_uuid).await
    }

    /// Issues a new key for a service account; the old key stops working at once. Needs the update
    /// permission of the account's scope.
    async fn rotate_service_account_key(
        &self,
        ctx: &Context<'_>,
        service_account_uuid: Uuid,
    ) -> Result<ServiceAccount> {
        let id = service_account_uuid.required("serviceAccountUuid")?;
        let now = state(ctx)?.clock.now();
        let access = access(ctx)?;
        let authority = access.authority()?;
        let mut conn = conn(ctx).await?;
        // The guard checked the update permission of the account's own scope.
        let scope = service_accounts::find(&mut conn, id)
            .await
            .ok()
            .and_then(|a| AccountScope::of(&a))
            .ok_or(ApiError::NotFound)?;
        let rotated = service_accounts::rotate(&mut conn, scope, id, &authority, now, &actor(ctx)).await?;
        drop(conn);
        Ok(ServiceAccount::with_key(access.admit_one(rotated.account).await?, rotated.key))
    }
}
