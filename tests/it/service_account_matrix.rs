//! Every role × every service-account operation: allowed calls succeed; denied calls answer FORBIDDEN
//! (UNAUTHENTICATED when anonymous) and change nothing.

use serde_json::Value;

use crate::common::TestApp;
use crate::matrix::*;

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
        name: "deploymentServiceAccount",
        query: "query($d: Uuid!, $dsa: Uuid!) { deploymentServiceAccount(deploymentUuid: $d, serviceAccountUuid: $dsa) { id } }",
        allowed: WORKSPACE_KEY_READERS,
    },
    Operation {
        name: "updateDeploymentServiceAccount",
        query: "mutation($d: Uuid!, $dsa: Uuid!) { updateDeploymentServiceAccount(serviceAccountUuid: $dsa, deploymentUuid: $d, payload: {label: \"renamed\"}) { id } }",
        allowed: &[DeploymentAdmin, DeploymentEditor, WorkspaceAdmin, WorkspaceEditor, SystemAdmin, SystemEditor],
    },
    Operation {
        name: "deleteSystemServiceAccount",
        query: "mutation($ssa: Uuid!) { deleteSystemServiceAccount(serviceAccountUuid: $ssa) { id } }",
        allowed: &[SystemAdmin],
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

async fn run_for(actor: Actor) {
    run(actor, OPERATIONS, prepare_keys, key_snapshot).await;
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

/// Adds a workspace key and a deployment key to the fixture (`sa`, `dsa`).
async fn prepare_keys(app: &TestApp, root: &str, mut variables: Value) -> Value {
    let workspace_key = app
        .gql(
            "mutation($w: Uuid!) { createWorkspaceServiceAccount(label: \"existing\", workspaceUuid: $w, role: WORKSPACE_VIEWER) { id } }",
            variables.clone(),
            Some(root),
        )
        .await;
    let deployment_key = app
        .gql(
            "mutation($d: Uuid!) { createDeploymentServiceAccount(label: \"existing\", deploymentUuid: $d, role: DEPLOYMENT_VIEWER) { id } }",
            variables.clone(),
            Some(root),
        )
        .await;
    // System keys share one scope, so their labels must differ per fixture.
    let system_key = app
        .gql(
            "mutation($label: String!) { createSystemServiceAccount(label: $label, role: SYSTEM_VIEWER) { id } }",
            serde_json::json!({"label": format!("existing-{}", variables["d"].as_str().unwrap_or_default())}),
            Some(root),
        )
        .await;
    variables["ssa"] = system_key["data"]["createSystemServiceAccount"]["id"].clone();
    variables["sa"] = workspace_key["data"]["createWorkspaceServiceAccount"]["id"].clone();
    variables["dsa"] = deployment_key["data"]["createDeploymentServiceAccount"]["id"].clone();
    variables
}

actor_tests!(run_for);
