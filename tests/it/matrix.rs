//! Role × operation matrices at deployment level: every actor (deployment, workspace and system roles, a
//! non-member, anonymous) against a list of operations. Allowed calls succeed; denied calls answer
//! FORBIDDEN (UNAUTHENTICATED when anonymous) and change nothing.

use serde_json::{Value, json};

use crate::common::TestApp;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Actor {
    DeploymentAdmin,
    DeploymentEditor,
    DeploymentViewer,
    WorkspaceAdmin,
    WorkspaceEditor,
    WorkspaceViewer,
    SystemAdmin,
    SystemEditor,
    SystemViewer,
    NonMember,
    Anonymous,
}

pub use Actor::*;

/// An operation and the actors allowed to perform it.
pub struct Operation {
    /// Name, for messages.
    pub name: &'static str,
    /// The GraphQL document; variables: `w` (workspace), `d` (deployment), `r` (release name) and those
    /// the fixture adds.
    pub query: &'static str,
    /// Who may.
    pub allowed: &'static [Actor],
}

pub fn roles(actor: Actor) -> (Option<&'static str>, Option<&'static str>, Option<&'static str>) {
    // (system role, workspace role, deployment role)
    match actor {
        DeploymentAdmin => (None, Some("WORKSPACE_VIEWER"), Some("DEPLOYMENT_ADMIN")),
        DeploymentEditor => (None, Some("WORKSPACE_VIEWER"), Some("DEPLOYMENT_EDITOR")),
        DeploymentViewer => (None, Some("WORKSPACE_VIEWER"), Some("DEPLOYMENT_VIEWER")),
        WorkspaceAdmin => (None, Some("WORKSPACE_ADMIN"), None),
        WorkspaceEditor => (None, Some("WORKSPACE_EDITOR"), None),
        WorkspaceViewer => (None, Some("WORKSPACE_VIEWER"), None),
        SystemAdmin => (Some("SYSTEM_ADMIN"), None, None),
        SystemEditor => (Some("SYSTEM_EDITOR"), None, None),
        SystemViewer => (Some("SYSTEM_VIEWER"), None, None),
        NonMember | Anonymous => (None, None, None),
    }
}

/// Runs every operation as `actor`, each on a fresh workspace with one deployment. `prepare` adds
/// objects and variables the operations need; `snapshot` renders every row a denied call must not change.
pub async fn run(
    actor: Actor,
    operations: &[Operation],
    prepare: impl AsyncFn(&TestApp, &str, Value) -> Value,
    snapshot: impl AsyncFn(&TestApp) -> String,
) {
    let app = TestApp::spawn_with(|config| config.public_signups = true).await;
    let root = app.with_owners().await;
    let (actor_token, actor_id) = app.sign_up("actor@example.com", "correct horse battery").await;
    app.sign_up("member@example.com", "correct horse battery").await;
    let (system_role, workspace_role, deployment_role) = roles(actor);
    if let Some(role) = system_role {
        assert!(app.grant_system_role(&root, &actor_id, role).await.get("errors").is_none());
    }
    let token = (actor != Anonymous).then_some(actor_token.as_str());
    for (index, operation) in operations.iter().enumerate() {
        let workspace = app.create_workspace(&root, &format!("ws-{index}")).await;
        app.add_to_workspace(&root, &workspace, "member@example.com", "WORKSPACE_VIEWER").await;
        let deployment = app.create_deployment(&root, &workspace, "etl").await;
        let deployment_id = deployment["id"].as_str().unwrap().to_owned();
        if let Some(role) = workspace_role {
            assert!(app.add_to_workspace(&root, &workspace, "actor@example.com", role).await.get("errors").is_none());
        }
        if let Some(role) = deployment_role {
            let body = app
                .gql(
                    "mutation($d: Id!, $r: Role!) { deploymentAddUserRole(email: \"actor@example.com\", deploymentId: $d, role: $r) { id } }",
                    json!({"d": deployment_id, "r": role}),
                    Some(&root),
                )
                .await;
            assert!(body.get("errors").is_none(), "{body}");
        }
        let variables =
            prepare(&app, &root, json!({"w": workspace, "d": deployment_id, "r": deployment["releaseName"]})).await;
        let before = snapshot(&app).await;
        let body = app.gql(operation.query, variables, token).await;
        if operation.allowed.contains(&actor) {
            assert!(body.get("errors").is_none(), "{actor:?} may {}: {body}", operation.name);
        } else {
            let expected = if actor == Anonymous { "UNAUTHENTICATED" } else { "FORBIDDEN" };
            assert_eq!(
                body["errors"][0]["extensions"]["code"], expected,
                "{actor:?} may not {}: {body}",
                operation.name
            );
            assert_eq!(snapshot(&app).await, before, "denied {} by {actor:?} changed nothing", operation.name);
        }
    }
}

/// One test per actor, each calling `$run(actor)`.
macro_rules! actor_tests {
    ($run:ident) => {
        #[tokio::test]
        async fn deployment_admin() {
            $run(DeploymentAdmin).await;
        }
        #[tokio::test]
        async fn deployment_editor() {
            $run(DeploymentEditor).await;
        }
        #[tokio::test]
        async fn deployment_viewer() {
            $run(DeploymentViewer).await;
        }
        #[tokio::test]
        async fn workspace_admin() {
            $run(WorkspaceAdmin).await;
        }
        #[tokio::test]
        async fn workspace_editor() {
            $run(WorkspaceEditor).await;
        }
        #[tokio::test]
        async fn workspace_viewer() {
            $run(WorkspaceViewer).await;
        }
        #[tokio::test]
        async fn system_admin() {
            $run(SystemAdmin).await;
        }
        #[tokio::test]
        async fn system_editor() {
            $run(SystemEditor).await;
        }
        #[tokio::test]
        async fn system_viewer() {
            $run(SystemViewer).await;
        }
        #[tokio::test]
        async fn non_member() {
            $run(NonMember).await;
        }
        #[tokio::test]
        async fn anonymous() {
            $run(Anonymous).await;
        }
    };
}
pub(crate) use actor_tests;
