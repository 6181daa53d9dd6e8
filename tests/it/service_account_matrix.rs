//! Every role × every service-account operation: allowed calls succeed; denied calls answer FORBIDDEN
//! (UNAUTHENTICATED when anonymous) and change nothing.

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

const WORKSPACE_KEY_READERS: &[Actor] = &[
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

const OPERATIONS: &[Operation] = &[
    Operation {
        name: "workspaceServiceAccounts",
        query: "query($w: Uuid!) { workspaceServiceAccounts(workspaceUuid: $w) { id } }",
        allowed: WORKSPACE_KEY_READERS,
    },
    Operation {
        name: "workspaceServiceAccount",
        query: "query($w: Uuid!, $sa: Uuid!) { workspaceServiceAccount(workspaceUuid: $w, serviceAccountUuid: $sa) { id } }",
        allowed: WORKSPACE_KEY_READERS,
    },
    Operation {
        name: "deploymentServiceAccounts",
        query: "query($d: Uuid!) { deploymentServiceAccounts(deploymentUuid: $d) { id } }",
        allowed: WORKSPACE_KEY_READERS,
    },
    Operation {
        name: "systemServiceAccounts",
        query: "{ systemServiceAccounts { id } }",
        allowed: &[SystemAdmin, SystemEditor, SystemViewer],
    },
    Operation {
        name: "createWorkspaceServiceAccount",
        query: "mutation($w: Uuid!) { createWorkspaceServiceAccount(label: \"new\", workspaceUuid: $w, role: WORKSPACE_VIEWER) { id } }",
        allowed: &[WorkspaceAdmin, WorkspaceEditor, SystemAdmin],
    },
    Operation {
        name: "createDeploymentServiceAccount",
        query: "mutation($d: Uuid!) { createDeploymentServiceAccount(label: \"new\", deploymentUuid: $d, role: DEPLOYMENT_VIEWER) { id } }",
        allowed: &[DeploymentAdmin, DeploymentEditor, WorkspaceAdmin, WorkspaceEditor, SystemAdmin],
    },
    Operation {
        name: "createSystemServiceAccount",
        query: "mutation { createSystemServiceAccount(label: \"new\", role: SYSTEM_VIEWER) { id } }",
        allowed: &[SystemAdmin],
    },
    Operation {
        name: "updateWorkspaceServiceAccount",
        query: "mutation($w: Uuid!, $sa: Uuid!) { updateWorkspaceServiceAccount(serviceAccountUuid: $sa, workspaceUuid: $w, payload: {label: \"renamed\"}) { id } }",
        allowed: &[WorkspaceAdmin, WorkspaceEditor, SystemAdmin, SystemEditor],
    },
    Operation {
        name: "rotateServiceAccountKey",
        query: "mutation($sa: Uuid!) { rotateServiceAccountKey(serviceAccountUuid: $sa) { id } }",
        allowed: &[WorkspaceAdmin, WorkspaceEditor, SystemAdmin, SystemEditor],
    },
    Operation {
        name: "deleteWorkspaceServiceAccount",
        query: "mutation($w: Uuid!, $sa: Uuid!) { deleteWorkspaceServiceAccount(serviceAccountUuid: $sa, workspaceUuid: $w) { id } }",
        allowed: &[WorkspaceAdmin, WorkspaceEditor, SystemAdmin],
    },
    Operation {
        name: "deleteDeploymentServiceAccount",
        query: "mutation($d: Uuid!, $dsa: Uuid!) { deleteDeploymentServiceAccount(serviceAccountUuid: $dsa, deploymentUuid: $d) { id } }",
        allowed: &[DeploymentAdmin, DeploymentEditor, WorkspaceAdmin, WorkspaceEditor, SystemAdmin],
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
        let workspace_key = app
            .gql(
                "mutation($w: Uuid!) { createWorkspaceServiceAccount(label: \"existing\", workspaceUuid: $w, role: WORKSPACE_VIEWER) { id } }",
                json!({"w": workspace}),
                Some(&root),
            )
            .await;
        let deployment_key = app
            .gql(
                "mutation($d: Uuid!) { createDeploymentServiceAccount(label: \"existing\", deploymentUuid: $d, role: DEPLOYMENT_VIEWER) { id } }",
                json!({"d": deployment_id}),
                Some(&root),
            )
            .await;
        let variables = json!({
            "w": workspace,
            "d": deployment_id,
            "sa": workspace_key["data"]["createWorkspaceServiceAccount"]["id"],
            "dsa": deployment_key["data"]["createDeploymentServiceAccount"]["id"],
        });
        let before = key_snapshot(&app).await;
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
            assert_eq!(key_snapshot(&app).await, before, "denied {} by {actor:?} changed nothing", operation.name);
        }
    }
}

async fn key_snapshot(app: &TestApp) -> String {
    let mut parts = Vec::new();
    for table in ["service_accounts", "role_bindings", "audit_events"] {
        parts.push(
            app.text(&format!("SELECT coalesce(json_agg(t ORDER BY t::text), '[]')::text AS t FROM {table} t")).await,
        );
    }
    parts.join("\n")
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
