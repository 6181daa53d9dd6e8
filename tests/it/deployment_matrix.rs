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

async fn run_for(actor: Actor) {
    run(
        actor,
        OPERATIONS,
        async |_: &TestApp, _: &str, variables: Value| variables,
        async |app: &TestApp| app.deployment_snapshot().await,
    )
    .await;
}

actor_tests!(run_for);
