//! Subscriptions. `deploymentStatus` pushes a deployment's status and settings whenever they change, on
//! whichever replica the change was made (PostgreSQL LISTEN/NOTIFY).

use async_graphql::futures_util::Stream;
use async_graphql::futures_util::stream::{self, StreamExt};
use async_graphql::{Context, Result, Subscription as SubscriptionObject};
use tokio::sync::broadcast::error::RecvError;

use crate::db::notify::Event;
use crate::domain::deployments;
use crate::error::ApiError;
use crate::graphql::authz::{Access, Op, access};
use crate::graphql::context::state;
use crate::graphql::deployments::{DeploymentLog, deployment_named, logs_not_supported};
use crate::graphql::scalars::Uuid;
use crate::graphql::types::audit::AuditEvent;
use crate::graphql::types::deployment::Deployment;
use crate::state::AppState;

/// Root of all subscriptions.
#[derive(Default)]
pub struct Subscription;

#[SubscriptionObject(guard = "Op")]
impl Subscription {
    /// The deployment now, then again after every change to it, until it is deleted. Name it by
    /// `deploymentUuid` or `releaseName`; needs `deployment.config.get` on it, when the subscription
    /// starts and again at every event: a caller who lost access receives FORBIDDEN and the stream ends.
    async fn deployment_status(
        &self,
        ctx: &Context<'_>,
        release_name: Option<String>,
        deployment_uuid: Option<Uuid>,
    ) -> Result<impl Stream<Item = Result<Deployment>> + use<>> {
        let id = deployment_named(ctx, deployment_uuid, release_name.as_deref()).await?;
        let state = state(ctx)?.clone();
        let access = access(ctx)?.clone();
        // Subscribe before reading the current state, so that no change falls between the two.
        let receiver = state.events.subscribe().await.map_err(ApiError::from)?;
        let current = {
            let mut conn = state.pool.get().await.map_err(ApiError::from)?;
            deployments::get(&mut conn, id).await?
        };
        let current = Deployment::from(access.admit_one(current).await?);
        let changes = stream::unfold(Some((receiver, state, access, id)), |context| async move {
            let (mut receiver, state, access, id) = context?;
            loop {
                match receiver.recv().await {
                    Ok(changed) if changed != Event::Deployment(id) => continue,
                    Ok(_) | Err(RecvError::Lagged(_)) => {
                        return match event(&state, &access, id).await {
                            Ok(Some(deployment)) => Some((Ok(deployment), Some((receiver, state, access, id)))),
                            // Deleted: the stream ends.
                            Ok(None) => None,
                            // Refused (access lost): this error is the last item.
                            Err(error) if ends_stream(&error) => Some((Err(error.into()), None)),
                            Err(error) => Some((Err(error.into()), Some((receiver, state, access, id)))),
                        };
                    }
                    Err(RecvError::Closed) => return None,
                }
            }
        });
        Ok(stream::once(async move { Ok(current) }).chain(changes))
    }

    /// Every audit event of the organization as it is written, on whichever replica. Each event is
    /// read-checked with the caller's roles as they are then; a caller who lost access receives FORBIDDEN
    /// and the stream ends.
    async fn audit_event_added(
        &self,
        ctx: &Context<'_>,
        organization_uuid: Uuid,
    ) -> Result<impl Stream<Item = Result<AuditEvent>> + use<>> {
        let organization = organization_uuid.required("organizationUuid")?;
        let state = state(ctx)?.clone();
        let access = access(ctx)?.clone();
        let receiver = state.events.subscribe().await.map_err(ApiError::from)?;
        Ok(stream::unfold(Some((receiver, state, access)), move |context| async move {
            let (mut receiver, state, access) = context?;
            loop {
                let id = match receiver.recv().await {
                    Ok(Event::Audit(id)) => id,
                    Ok(_) => continue,
                    // Missed events cannot be told apart: the subscriber is told and resubscribes.
                    Err(RecvError::Lagged(_)) => {
                        let error = ApiError::unavailable("audit events were missed; subscribe again");
                        return Some((Err(error.into()), None));
                    }
                    Err(RecvError::Closed) => return None,
                };
                match audit_event(&state, &access, id, organization).await {
                    Ok(Some(event)) => return Some((Ok(event), Some((receiver, state, access)))),
                    Ok(None) => continue,
                    Err(error) if ends_stream(&error) => return Some((Err(error.into()), None)),
                    Err(error) => return Some((Err(error.into()), Some((receiver, state, access)))),
                }
            }
        }))
    }

    /// Live Airflow logs: capcom keeps none yet, so this answers NOT_SUPPORTED.
    async fn log(
        &self,
        #[graphql(name = "deploymentUuid")] _deployment_uuid: Uuid,
        #[graphql(name = "component")] _component: Option<String>,
        #[graphql(name = "timestamp")] _timestamp: Option<chrono::DateTime<chrono::Utc>>,
        #[graphql(name = "search")] _search: Option<String>,
    ) -> Result<stream::Empty<Result<DeploymentLog>>> {
        Err(logs_not_supported().into())
    }
}

/// Whether an event's `error` says the caller lost access, so that it is the stream's last item: a role
/// or the credential lost (FORBIDDEN, UNAUTHENTICATED) and a refusal by a setting of the object such as
/// the organization's IP access list no longer holding the request's address (FORBIDDEN with its own
/// message). Access given back later does not resume the stream: the caller subscribes again.
fn ends_stream(error: &ApiError) -> bool {
    matches!(
        error,
        ApiError::Forbidden | ApiError::ForbiddenBy(_) | ApiError::Unauthenticated(_) | ApiError::NotSignedIn
    )
}

/// The audit event `id` if it belongs to `organization`, read-checked with the caller's roles as they are
/// now.
async fn audit_event(
    state: &AppState,
    access: &Access,
    id: uuid::Uuid,
    organization: uuid::Uuid,
) -> Result<Option<AuditEvent>, ApiError> {
    let found = {
        let mut conn = state.pool.get().await?;
        crate::domain::audit::by_ids(&mut conn, &[id]).await?
    };
    let Some(event) = found.into_iter().next().filter(|e| e.organization_id == Some(organization)) else {
        return Ok(None);
    };
    access.reload().await?;
    if access.principal().bindings().is_err() {
        return Err(ApiError::invalid_token());
    }
    Ok(Some(AuditEvent::from(access.admit_one(event).await?)))
}

/// One event of `deploymentStatus`: the deployment reloaded, re-checked against the caller's bindings
/// as they are now. `None` when it was deleted.
async fn event(state: &AppState, access: &Access, id: uuid::Uuid) -> Result<Option<Deployment>, ApiError> {
    access.reload().await?;
    if access.principal().bindings().is_err() {
        return Err(ApiError::invalid_token());
    }
    let reloaded = {
        let mut conn = state.pool.get().await?;
        deployments::get(&mut conn, id).await
    };
    match reloaded {
        Ok(deployment) => Ok(Some(Deployment::from(access.admit_one(deployment).await?))),
        Err(ApiError::NotFound) => Ok(None),
        Err(error) => Err(error),
    }
}
