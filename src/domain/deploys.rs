//! Deploys (SPEC §5.4): a push of an image tag or a DAG-only bundle, numbered `deploy-N` per deployment.

use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde_json::json;
use uuid::Uuid;

use crate::auth::Principal;
use crate::db::models::deploy::{Deploy, NewDeploy};
use crate::db::models::deployment::Deployment;
use crate::domain::audit::{self, Change};
use crate::domain::{Actor, validate};
use crate::error::{ApiError, ApiResult};

pub use crate::db::models::deploy::Deploy as DeployRow;

/// What is deployed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeployKind {
    /// A new image.
    Image,
    /// DAG files only.
    Dag,
}

/// Who deploys.
#[derive(Debug, Clone, Copy)]
pub enum Deployer {
    /// A person.
    User(Uuid),
    /// An API key.
    ServiceAccount(Uuid),
}

impl Deployer {
    /// Who `principal` deploys as: a person or an API key; FORBIDDEN/UNAUTHENTICATED for no principal.
    pub fn of(principal: &Principal) -> ApiResult<Deployer> {
        match principal {
            Principal::ServiceAccount(account) => Ok(Deployer::ServiceAccount(account.account.id)),
            other => Ok(Deployer::User(other.user()?.user.id)),
        }
    }
}

/// A deploy request.
#[derive(Debug, Clone)]
pub struct DeployRequest {
    /// Image or DAG.
    pub kind: DeployKind,
    /// Image tag; the next `deploy-N` when absent.
    pub tag: Option<String>,
    /// Full image reference.
    pub image: Option<String>,
    /// DAG bundle reference.
    pub bundle: Option<String>,
    /// Description.
    pub description: Option<String>,
}

/// The tag the next image deploy gets (`deployInfo.nextCli`): one past both the newest revision and the
/// number of the current `deploy-N` tag, so that tags chosen by clients and generated ones never collide.
pub fn next_tag(latest_revision: i32, current_tag: Option<&str>) -> String {
    let current =
        current_tag.and_then(|tag| tag.strip_prefix("deploy-")).and_then(|n| n.parse::<i32>().ok()).unwrap_or(0);
    format!("deploy-{}", latest_revision.max(current) + 1)
}

fn check_tag(tag: &str) -> ApiResult<()> {
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
        && !tag.starts_with(['.', '-']);
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_input(
            "tag",
            "An image tag is 1-128 characters of A-Z, a-z, 0-9, _, . and -, not starting with . or -",
        ))
    }
}

/// The deployment's own rule on who may push deploys, beyond the permission `deployment.images.push`
/// (which the operation table checks): with `enforceCicd` on, only service accounts deploy and people
/// are refused with FORBIDDEN naming the setting (SPEC §4.3, §5.4). `createDeploy` and
/// `deploymentCapabilities.canDeploy` both ask this function, so the capability never promises a deploy
/// the mutation refuses.
pub fn may_deploy(deployment: &Deployment, deployer: Deployer) -> ApiResult<()> {
    if deployment.enforce_cicd && matches!(deployer, Deployer::User(_)) {
        return Err(ApiError::ForbiddenBy(
            "Access is Denied: this deployment has enforceCicd on, so only service accounts (API keys) may deploy to it".into(),
        ));
    }
    Ok(())
}

/// Records a deploy. DAG deploys need `dagDeployEnabled`; with `enforceCicd`, only service accounts deploy.
pub async fn create(
    conn: &mut AsyncPgConnection,
    deployment_id: Uuid,
    request: DeployRequest,
    deployer: Deployer,
    actor: &Actor,
) -> ApiResult<Deploy> {
    let description = validate::description("description", request.description.as_deref().unwrap_or_default())?;
    if let Some(tag) = &request.tag {
        check_tag(tag)?;
    }
    if let Some(image) = &request.image {
        if image.len() > 1024 || image.chars().any(char::is_whitespace) {
            return Err(ApiError::bad_input("image", "An image reference is at most 1024 characters without spaces"));
        }
    }
    let bundle = match request.kind {
        DeployKind::Dag => {
            let bundle = request.bundle.as_deref().map(str::trim).filter(|b| !b.is_empty());
            let bundle = bundle.ok_or_else(|| ApiError::bad_input("bundle", "A DAG deploy names its bundle"))?;
            if bundle.len() > 1024 {
                return Err(ApiError::bad_input("bundle", "A bundle reference is at most 1024 characters"));
            }
            Some(bundle.to_owned())
        }
        DeployKind::Image => None,
    };
    conn.transaction(async |tx| {
        let deployment = Deployment::live_for_update(tx, deployment_id).await?.ok_or(ApiError::NotFound)?;
        may_deploy(&deployment, deployer)?;
        if request.kind == DeployKind::Dag && !deployment.dag_deploy_enabled {
            return Err(ApiError::bad_input("type", "DAG-only deploys are off for this deployment (dagDeployEnabled)"));
        }
        // The locked row holds the deploy state (kept by a trigger on `deploys`), so concurrent deploys
        // number their revisions in turn.
        let (latest, current_tag) = (deployment.deploy_revision, deployment.deploy_image_tag.clone());
        let revision = latest + 1;
        let (user, service_account) = match deployer {
            Deployer::User(id) => (Some(id), None),
            Deployer::ServiceAccount(id) => (None, Some(id)),
        };
        let deploy = Deploy::insert(
            tx,
            &NewDeploy {
                id: Uuid::now_v7(),
                deployment_id,
                kind: match request.kind {
                    DeployKind::Image => "IMAGE",
                    DeployKind::Dag => "DAG",
                },
                revision,
                image_tag: (request.kind == DeployKind::Image)
                    .then(|| request.tag.clone().unwrap_or_else(|| next_tag(latest, current_tag.as_deref()))),
                image: request.image.clone(),
                bundle: bundle.clone(),
                description: description.clone(),
                deployed_by_user_id: user,
                deployed_by_service_account_id: service_account,
            },
        )
        .await?;
        audit::record(
            tx,
            actor,
            Change {
                action: "deployment.deploy",
                target_type: "deployment",
                target_id: Some(deployment_id),
                workspace_id: Some(deployment.workspace_id),
                deployment_id: Some(deployment_id),
                after: Some(json!({"deployId": deploy.id, "kind": deploy.kind, "revision": revision, "tag": deploy.image_tag, "bundle": deploy.bundle})),
                ..Change::default()
            },
        )
        .await?;
        Ok(deploy)
    })
    .await
}

/// Records an image deploy that also moves the deployment to runtime `runtime_version` when it differs
/// from the current one: both happen, or neither (a refused deploy leaves the runtime as it was).
/// Upgrading needs the permissions of `upgradeDeployment` on top of the deploy's own.
#[allow(clippy::too_many_arguments)] // the deploy, the upgrade, and who does them
pub async fn create_with_runtime(
    conn: &mut AsyncPgConnection,
    deployment_id: Uuid,
    request: DeployRequest,
    runtime_version: Option<&str>,
    deployer: Deployer,
    authority: &crate::domain::Authority,
    now: chrono::DateTime<chrono::Utc>,
    actor: &Actor,
) -> ApiResult<Deploy> {
    conn.transaction(async |tx| {
        let current = crate::domain::deployments::get(tx, deployment_id).await?;
        let upgrade_to = runtime_version.filter(|v| !v.is_empty() && current.runtime_version.as_deref() != Some(*v));
        if let Some(version) = upgrade_to {
            let upgrade = crate::rbac::operations::find("upgradeDeployment").map(|o| o.rule.permissions());
            authority
                .require(tx, upgrade.unwrap_or_default(), crate::rbac::ScopeRef::Deployment(deployment_id))
                .await?;
            crate::domain::deployments::upgrade(tx, deployment_id, version, now, actor).await?;
        }
        // Nested: runs in a savepoint of this transaction.
        create(tx, deployment_id, request, deployer, actor).await
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_tag_passes_both_revision_and_current_tag() {
        assert_eq!(next_tag(0, None), "deploy-1");
        assert_eq!(next_tag(1, Some("deploy-7")), "deploy-8");
        assert_eq!(next_tag(3, Some("v1.2.3")), "deploy-4");
    }
}
