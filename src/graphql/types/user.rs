//! `User`, `Email`, `RoleBinding`.

use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Json, Object, Result};
use chrono::{DateTime, Utc};

use crate::domain::users::{self, RoleBindingRow};
use crate::graphql::loaders::{
    DbLoader, EmailsOfUser, RoleBindingsOfUser, ServiceAccountById, UserById, WorkspaceById,
};
use crate::graphql::scalars::Uuid;
use crate::graphql::types::service_account::ServiceAccount;
use crate::graphql::types::workspace::Workspace;
use crate::rbac::Role;

/// A person with an account.
pub struct User(pub users::User);

/// A user.
#[Object]
impl User {
    /// The user's id.
    async fn id(&self) -> Uuid {
        self.0.id.into()
    }

    /// Login name.
    async fn username(&self) -> &str {
        &self.0.username
    }

    /// Display name.
    async fn full_name(&self) -> Option<&str> {
        self.0.full_name.as_deref()
    }

    /// `active`, `pending`, `inactive` or `banned`.
    async fn status(&self) -> &str {
        &self.0.status
    }

    /// Free-form profile.
    async fn profile(&self) -> Json<serde_json::Value> {
        Json(self.0.profile.clone())
    }

    /// Email addresses, primary first.
    async fn emails(&self, ctx: &Context<'_>) -> Result<Vec<Email>> {
        let loader = ctx.data::<DataLoader<DbLoader>>()?;
        let emails = loader.load_one(EmailsOfUser(self.0.id)).await?.unwrap_or_default();
        Ok(emails.into_iter().map(Email).collect())
    }

    /// Roles the user holds directly.
    async fn role_bindings(&self, ctx: &Context<'_>) -> Result<Vec<RoleBinding>> {
        let loader = ctx.data::<DataLoader<DbLoader>>()?;
        let rows = loader.load_one(RoleBindingsOfUser(self.0.id)).await?.unwrap_or_default();
        Ok(rows.into_iter().map(RoleBinding).collect())
    }

    /// When the account was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// When the account last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// An email address of a user.
pub struct Email(pub users::Email);

/// An email address.
#[Object]
impl Email {
    /// The address, lower-cased.
    async fn address(&self) -> &str {
        &self.0.address
    }

    /// Whether the address was verified.
    async fn verified(&self) -> bool {
        self.0.verified
    }

    /// Whether this is the user's primary address.
    async fn primary(&self) -> bool {
        self.0.is_primary
    }
}

/// A role held by a principal at one scope object.
pub struct RoleBinding(pub RoleBindingRow);

/// A role binding.
#[Object]
impl RoleBinding {
    /// The binding's id.
    async fn id(&self) -> Uuid {
        self.0.id.into()
    }

    /// The role.
    async fn role(&self) -> Option<Role> {
        self.0.role.parse().ok()
    }

    /// Where it applies.
    async fn scope(&self) -> Option<crate::rbac::Scope> {
        self.0.role.parse::<Role>().ok().and_then(Role::scope)
    }

    /// The user holding it, if a user does.
    async fn user(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(id) = self.0.user_id else { return Ok(None) };
        let loader = ctx.data::<DataLoader<DbLoader>>()?;
        Ok(loader.load_one(UserById(id)).await?.map(User))
    }

    /// The workspace it applies to, for workspace bindings.
    async fn workspace(&self, ctx: &Context<'_>) -> Result<Option<Workspace>> {
        let Some(id) = self.0.workspace_id else { return Ok(None) };
        let loader = ctx.data::<DataLoader<DbLoader>>()?;
        Ok(loader.load_one(WorkspaceById(id)).await?.map(Workspace))
    }

    /// The deployment it applies to, for deployment bindings.
    async fn deployment(&self, ctx: &Context<'_>) -> Result<Option<crate::graphql::types::deployment::Deployment>> {
        let Some(id) = self.0.deployment_id else { return Ok(None) };
        let loader = ctx.data::<DataLoader<DbLoader>>()?;
        Ok(loader
            .load_one(crate::graphql::loaders::DeploymentById(id))
            .await?
            .map(crate::graphql::types::deployment::Deployment))
    }

    /// The service account holding it, if a service account does.
    async fn service_account(&self, ctx: &Context<'_>) -> Result<Option<ServiceAccount>> {
        let Some(id) = self.0.service_account_id else { return Ok(None) };
        let loader = ctx.data::<DataLoader<DbLoader>>()?;
        Ok(loader.load_one(ServiceAccountById(id)).await?.map(ServiceAccount::listed))
    }

    /// When it was granted.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}
