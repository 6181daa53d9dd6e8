//! Every role × every deployment operation: allowed calls succeed; denied calls answer FORBIDDEN
//! (UNAUTHENTICATED when anonymous) and change nothing. Workspace roles reach deployments by implication.

use serde_json::json;

use crate::common::TestApp;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Actor {
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

use Actor::*;

struct Operation {
    name: &'static str,
    query: &'static str,
    allowed: &'static [Actor],
}

/// Deployment-role actors also hold WORKSPACE_VIEWER (a deployment role needs a workspace role).
const WORKSPACE_READERS: &[Actor] = &[
    DeploymentAdmin,
    DeploymentEditor,
    DeploymentViewer,
    WorkspaceAdmin,
    WorkspaceEditor,
    WorkspaceViewer,
    SystemAdmin,
    SystemEditor,
    SystemViewer,
];
const DEPLOYMENT_WRITERS: &[Actor] = &[DeploymentAdmin, DeploymentEditor, WorkspaceAdmin, WorkspaceEditor, SystemAdmin];

const OPERATIONS: &[Operation] = &[
    Operation {
        name: "workspaceDeployments",
        query: "query($w: Uuid!) { workspaceDeployments(workspaceUuid: $w) { id } }",
        allowed: WORKSPACE_READERS,
    },
    Operation {
        name: "workspaceDeployment",
        query: "query($w: Uuid!, $r: String!) { workspaceDeployment(workspaceUuid: $w, releaseName: $r) { id } }",
        allowed: WORKSPACE_READERS,
    },
    Operation {
        name: "deploymentUsers",
        query: "query($d: Id!) { deploymentUsers(deploymentId: $d) { id } }",
        allowed: &[
            DeploymentAdmin,
            DeploymentEditor,
            DeploymentViewer,
            WorkspaceAdmin,
            WorkspaceEditor,
            WorkspaceViewer,
            SystemAdmin,
            SystemEditor,
            SystemViewer,
        ],
    },
    Operation {
        name: "deployments",
        query: "{ deployments { id } }",
        allowed: &[SystemAdmin, SystemEditor, SystemViewer],
    },
    Operation {
        name: "updateDeployment",
        query: "mutation($d: Uuid!) { updateDeployment(deploymentUuid: $d, settings: {workerMax: 12}) { id } }",
        allowed: DEPLOYMENT_WRITERS,
    },
    Operation {
        name: "upgradeDeployment",
        query: "mutation($d: Uuid!) { upgradeDeployment(deploymentUuid: $d, version: \"11.7.0\") { id } }",
        allowed: DEPLOYMENT_WRITERS,
    },
    Operation {
        name: "deploymentAddUserRole",
        query: "mutation($d: Id!) { deploymentAddUserRole(email: \"member@example.com\", deploymentId: $d, role: DEPLOYMENT_VIEWER) { id } }",
        allowed: &[DeploymentAdmin, WorkspaceAdmin],
    },
    Operation {
        name: "deleteDeployment",
        query: "mutation($d: Uuid!) { deleteDeployment(deploymentUuid: $d) { id } }",
        allowed: &[DeploymentAdmin, WorkspaceAdmin, SystemAdmin],
    },
    Operation {
        name: "createDeployment",
        query: "mutation($w: Uuid!) { createDeployment(workspaceUuid: $w, label: \"by the actor\") { id } }",
        allowed: &[WorkspaceAdmin, WorkspaceEditor],
    },
];

fn roles(actor: Actor) -> (Option<&'static str>, Option<&'static str>, Option<&'static str>) {
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

async fn run_for(actor: Actor) {
    let app = TestApp::spawn_with(|config| config.public_signups = true).await;
    let root = app.with_owners().await;
    let (actor_token, actor_id) = app.sign_up("actor@example.com", "correct horse battery").await;
    app.sign_up("member@example.com", "correct horse battery").await;
    let (system_role, workspace_role, deployment_role) = roles(actor);
    if let Some(role) = system_role {
        assert!(app.grant_system_role(&root, &actor_id, role).await.get("errors").is_none());
    }
    let token = (actor != Anonymous).then_some(actor_token.as_str());
    for (index, operation) in OPERATIONS.iter().enumerate() {
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
        let variables = json!({"w": workspace, "d": deployment_id, "r": deployment["releaseName"]});
        let before = app.deployment_snapshot().await;
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
            assert_eq!(
                app.deployment_snapshot().await,
                before,
                "denied {} by {actor:?} changed nothing",
                operation.name
            );
        }
    }
}

macro_rules! matrix_tests {
    ($($name:ident => $actor:expr,)+) => {
        $(
            #[tokio::test]
            async fn $name() {
                run_for($actor).await;
            }
        )+
    };
}

matrix_tests! {
    deployment_admin => DeploymentAdmin,
    deployment_editor => DeploymentEditor,
    deployment_viewer => DeploymentViewer,
    workspace_admin => WorkspaceAdmin,
    workspace_editor => WorkspaceEditor,
    workspace_viewer => WorkspaceViewer,
    system_admin => SystemAdmin,
    system_editor => SystemEditor,
    system_viewer => SystemViewer,
    non_member => NonMember,
    anonymous => Anonymous,
}
