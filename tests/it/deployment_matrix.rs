//! Every role × every deployment operation: allowed calls succeed; denied calls answer FORBIDDEN
//! (UNAUTHENTICATED when anonymous) and change nothing. Workspace roles reach deployments by implication.

use serde_json::Value;

use crate::common::TestApp;
use crate::matrix::*;

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
        name: "deploymentVariables",
        query: "query($d: Uuid!) { deploymentVariables(deploymentUuid: $d) { key } }",
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
        name: "updateDeploymentVariables",
        query: "mutation($d: Uuid!) { updateDeploymentVariables(deploymentUuid: $d, environmentVariables: [{key: \"A\", value: \"1\"}]) { key } }",
        allowed: DEPLOYMENT_WRITERS,
    },
    Operation {
        name: "createDeploy",
        query: "mutation($d: Uuid!) { createDeploy(deploymentUuid: $d, type: IMAGE) { revision } }",
        allowed: &[DeploymentAdmin, DeploymentEditor, WorkspaceAdmin, WorkspaceEditor],
    },
    Operation {
        name: "deploymentAccessToken",
        query: "mutation($d: Uuid!) { deploymentAccessToken(deploymentUuid: $d) { airflowRole } }",
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
        name: "deploymentUpdateUserRole",
        query: "mutation($d: Id!, $m: String!) { deploymentUpdateUserRole(email: $m, deploymentId: $d, role: DEPLOYMENT_EDITOR) { id } }",
        allowed: &[DeploymentAdmin, WorkspaceAdmin],
    },
    Operation {
        name: "deploymentRemoveUserRole",
        query: "mutation($d: Id!, $m: String!) { deploymentRemoveUserRole(email: $m, deploymentId: $d) { id } }",
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

/// Adds a workspace member holding DEPLOYMENT_VIEWER on the deployment (`m`, their email).
async fn prepare_member(app: &TestApp, root: &str, mut variables: Value) -> Value {
    let email = format!("m-{}@example.com", variables["d"].as_str().unwrap_or_default());
    app.sign_up(&email, "correct horse battery").await;
    let workspace = variables["w"].as_str().unwrap_or_default().to_owned();
    assert!(app.add_to_workspace(root, &workspace, &email, "WORKSPACE_VIEWER").await.get("errors").is_none());
    let body = app
        .gql(
            "mutation($d: Id!, $m: String!) { deploymentAddUserRole(email: $m, deploymentId: $d, role: DEPLOYMENT_VIEWER) { id } }",
            serde_json::json!({"d": variables["d"], "m": email}),
            Some(root),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    variables["m"] = Value::String(email);
    variables
}

async fn run_for(actor: Actor) {
    run(actor, OPERATIONS, prepare_member, async |app: &TestApp| app.deployment_snapshot().await).await;
}

actor_tests!(run_for);
