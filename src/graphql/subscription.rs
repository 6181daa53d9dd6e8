//! Subscriptions. `deploymentStatus` pushes a deployment's status and settings whenever they change, on
//! whichever replica the change was made (PostgreSQL LISTEN/NOTIFY).

use async_graphql::futures_util::Stream;
use async_graphql::futures_util::stream::{self, StreamExt};
use async_graphql::{Context, Result, Subscription as SubscriptionObject};
use tokio::sync::broadcast::error::RecvError;

use crate::domain::deployments;
use crate::error::ApiError;
use crate::graphql::context::state;
use crate::graphql::deployments::{DeploymentLog, deployment_named, logs_not_supported};
use crate::graphql::guards::{Target, authorize};
use crate::graphql::scalars::Uuid;
use crate::graphql::types::deployment::Deployment;
use crate::rbac::Permission;

/// Root of all subscriptions.
#[derive(Default)]
pub struct Subscription;

#[SubscriptionObject]
impl Subscription {
    /// The deployment now, then again after every change to it, until it is deleted. Name it by
    /// `deploymentUuid` or `releaseName`; needs `deployment.config.get` on it.
    async fn deployment_status(
        &self,
        ctx: &Context<'_>,
        release_name: Option<String>,
        deployment_uuid: Option<Uuid>,
    ) -> Result<impl Stream<Item = Result<Deployment>> + use<>> {
        let id = deployment_named(ctx, deployment_uuid, release_name.as_deref()).await?;
        authorize(ctx, &[Permission::DeploymentConfigGet, Permission::SystemDeploymentsGet], Target::Object(Some(id)))?;
        let state = state(ctx)?.clone();
        // Subscribe before reading the current state, so that no change falls between the two.
        let receiver = state.events.subscribe().await.map_err(ApiError::internal)?;
        let current = {
            let mut conn = state.pool.get().await.map_err(ApiError::from)?;
            deployments::get(&mut conn, id).await?
        };
        let changes = stream::unfold((receiver, state, id), |(mut receiver, state, id)| async move {
            loop {
                match receiver.recv().await {
                    Ok(changed) if changed != id => continue,
                    Ok(_) | Err(RecvError::Lagged(_)) => {
                        let reloaded = match state.pool.get().await {
                            Ok(mut conn) => deployments::get(&mut conn, id).await,
                            Err(error) => Err(ApiError::from(error)),
                        };
                        return match reloaded {
                            Ok(deployment) => Some((Ok(Deployment(deployment)), (receiver, state, id))),
                            // Deleted: the stream ends.
                            Err(ApiError::NotFound) => None,
                            Err(error) => Some((Err(error.into()), (receiver, state, id))),
                        };
                    }
                    Err(RecvError::Closed) => return None,
                }
            }
        });
        Ok(stream::once(async move { Ok(Deployment(current)) }).chain(changes))
    }

    /// Live Airflow logs: capcom keeps none yet, so this answers NOT_SUPPORTED.
    async fn log(
        &self,
        ctx: &Context<'_>,
        #[graphql(name = "deploymentUuid")] _deployment_uuid: Uuid,
        #[graphql(name = "component")] _component: Option<String>,
        #[graphql(name = "timestamp")] _timestamp: Option<chrono::DateTime<chrono::Utc>>,
        #[graphql(name = "search")] _search: Option<String>,
    ) -> Result<stream::Empty<Result<DeploymentLog>>> {
        crate::graphql::context::principal(ctx).bindings()?;
        Err(logs_not_supported().into())
    }
}
