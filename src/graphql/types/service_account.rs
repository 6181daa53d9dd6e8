//! `ServiceAccount`: a non-human principal with an API key.

use async_graphql::{Context, Object, Result};
use chrono::{DateTime, Utc};

use crate::domain::service_accounts;
use crate::graphql::authz::{Readable, access};
use crate::graphql::context::loader;
use crate::graphql::loaders::RoleBindingOfServiceAccount;
use crate::graphql::scalars::Uuid;
use crate::graphql::types::user::RoleBinding;

/// A service account, with its key in clear only in the response that created or rotated it. Only made
/// from an account the caller may read.
pub struct ServiceAccount(Readable<service_accounts::ServiceAccount>, Option<String>);

impl ServiceAccount {
    /// As listed: the key shows only its prefix.
    pub fn listed(account: Readable<service_accounts::ServiceAccount>) -> Self {
        ServiceAccount(account, None)
    }

    /// Just created or rotated: the full key, this once.
    pub fn with_key(account: Readable<service_accounts::ServiceAccount>, key: String) -> Self {
        ServiceAccount(account, Some(key))
    }
}

/// A service account (API key).
#[Object]
impl ServiceAccount {
    /// The service account's id.
    async fn id(&self) -> Uuid {
        self.0.id.into()
    }

    /// Label, unique within its scope.
    async fn label(&self) -> &str {
        &self.0.label
    }

    /// Free-form category.
    async fn category(&self) -> Option<&str> {
        self.0.category.as_deref()
    }

    /// The full key in the response that created or rotated it; afterwards only its public prefix.
    async fn api_key(&self) -> &str {
        self.1.as_deref().unwrap_or(&self.0.key_prefix)
    }

    /// Its role binding.
    async fn role_binding(&self, ctx: &Context<'_>) -> Result<Option<RoleBinding>> {
        let Some(row) = loader(ctx)?.load_one(RoleBindingOfServiceAccount(self.0.id)).await? else {
            return Ok(None);
        };
        Ok(access(ctx)?.admit(row).await?.map(RoleBinding::from))
    }

    /// Who created it.
    async fn created_by(&self) -> Option<Uuid> {
        self.0.created_by.map(Uuid::from)
    }

    /// The key's public prefix.
    async fn key_prefix(&self) -> &str {
        &self.0.key_prefix
    }

    /// `SYSTEM`, `ORGANIZATION`, `WORKSPACE` or `DEPLOYMENT`.
    async fn entity_type(&self) -> &str {
        &self.0.scope
    }

    /// The id of the object the key belongs to.
    async fn entity_uuid(&self) -> Option<Uuid> {
        self.0.organization_id.or(self.0.workspace_id).or(self.0.deployment_id).map(Uuid::from)
    }

    /// The workspace of a workspace key.
    async fn workspace_uuid(&self) -> Option<Uuid> {
        self.0.workspace_id.map(Uuid::from)
    }

    /// The deployment of a deployment key.
    async fn deployment_uuid(&self) -> Option<Uuid> {
        self.0.deployment_id.map(Uuid::from)
    }

    /// Whether the key is accepted.
    async fn active(&self) -> bool {
        self.0.active
    }

    /// Expiry.
    async fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.0.expires_at
    }

    /// Last use.
    async fn last_used_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_used_at
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
