//! `appConfig` and `authConfig`: answered without a token.

use async_graphql::{Context, Json, Object, Result};

use crate::domain::users;
use crate::graphql::authz::Op;
use crate::graphql::authz::access;
use crate::graphql::context::{conn, state};
use crate::graphql::scalars::Uuid;
use crate::graphql::types::config::{AppConfig, AuthConfig, AuthProvider};

/// Configuration queries.
#[derive(Default)]
pub struct ConfigQuery;

#[Object(guard = "Op")]
impl ConfigQuery {
    /// Installation facts for clients. With `clusterId`, `featureFlags.manualNamespaceNames` says whether
    /// that cluster has a namespace pool to choose from (`availableNamespaces`), for a cluster the caller
    /// may read (any other id answers `false`); the other ids are accepted for compatibility and do not
    /// change the answer.
    async fn app_config(
        &self,
        ctx: &Context<'_>,
        cluster_id: Option<Uuid>,
        #[graphql(name = "workspaceUuid")] _workspace_uuid: Option<Uuid>,
        #[graphql(name = "deploymentUuid")] _deployment_uuid: Option<Uuid>,
    ) -> Result<AppConfig> {
        let config = &state(ctx)?.config;
        // The CLI asks for a namespace from the pool only when this is on (per cluster).
        let manual_namespaces = match cluster_id.and_then(Uuid::get) {
            Some(id) => {
                let mut conn = conn(ctx).await?;
                let found = match crate::domain::clusters::get(&mut conn, id).await {
                    Ok(cluster) => Some(cluster),
                    Err(crate::error::ApiError::NotFound) => None,
                    Err(other) => return Err(other.into()),
                };
                drop(conn);
                // Only a cluster the caller may read tells anything (SPEC §2 tenancy, rule 5): another
                // organization's dedicated cluster answers as an unknown id does.
                match (found, access(ctx)) {
                    (Some(cluster), Ok(access)) => {
                        access.admit(cluster).await?.is_some_and(|cluster| !cluster.namespaces.is_empty())
                    }
                    _ => false,
                }
            }
            None => false,
        };
        Ok(AppConfig {
            version: config.api_level.clone(),
            capcom_version: env!("CARGO_PKG_VERSION").to_owned(),
            base_domain: config.base_domain.clone(),
            byo_update_registry_host: None,
            smtp_configured: false,
            manual_release_names: false,
            feature_flags: Json(serde_json::json!({
                "nfsMountDagDeployment": false,
                "hardDeleteDeployment": true,
                "manualNamespaceNames": manual_namespaces,
                "triggererEnabled": true,
                "gitSyncDagDeployment": false,
                "namespaceFreeFormEntry": false,
                "byoUpdateRegistryEnabled": false,
                "astroRuntimeEnabled": true,
                "dagOnlyDeployment": true,
            })),
        })
    }

    /// How to sign in. `redirect` is accepted for compatibility.
    async fn auth_config(&self, ctx: &Context<'_>, _redirect: Option<String>) -> Result<AuthConfig> {
        let public_signup = state(ctx)?.config.public_signups;
        let mut conn = conn(ctx).await?;
        let initial_signup = users::installation_is_empty(&mut conn).await?;
        let providers = crate::domain::identity_providers::enabled(&mut conn, state(ctx)?.config.list_cap)
            .await?
            .into_iter()
            .map(|provider| AuthProvider {
                url: format!("/v1/oauth/start?provider={}", provider.name),
                name: provider.name,
                display_name: provider.display_name,
            })
            .collect();
        Ok(AuthConfig { local_enabled: true, public_signup, initial_signup, providers })
    }
}
