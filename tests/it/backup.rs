//! Backup and restore as docs/operations.md describes it: a `pg_dump` of capcom's database, restored with
//! `pg_restore` into a fresh database, serves the same data to a capcom that has the same keys; without
//! the secret-sealing and signing keys, sealed variables and issued tokens are lost while passwords and
//! API keys (stored as hashes) still work.

use std::path::Path;

use serde_json::{Value, json};

use crate::common::{TestApp, empty_database, error_code, pg_program, test_config};

const PASSWORD: &str = "correct horse battery";
const SECRET: &str = "s3cr3t-that-only-the-sealing-key-opens";

/// Runs one PostgreSQL program from the harness's folder; panics with its output when it fails.
async fn run(program: &str, args: &[&str]) {
    let output = tokio::process::Command::new(pg_program(program))
        .args(args)
        .output()
        .await
        .unwrap_or_else(|error| panic!("{program} could not be run: {error}"));
    assert!(
        output.status.success(),
        "{program} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `pg_dump` of `url` into `file`, then `pg_restore` into a new, empty database; returns its URL.
async fn dump_and_restore(url: &str, file: &Path) -> String {
    let file = file.to_str().expect("UTF-8 path");
    run("pg_dump", &["--format=custom", "--file", file, "--dbname", url]).await;
    let restored = empty_database().await;
    run("pg_restore", &["--exit-on-error", "--no-owner", "--dbname", &restored, file]).await;
    restored
}

async fn revealed(app: &TestApp, deployment: &str) -> Result<Vec<(String, String)>, capcom::error::ApiError> {
    let mut conn =
        <diesel_async::AsyncPgConnection as diesel_async::AsyncConnection>::establish(&app.db_url).await.unwrap();
    capcom::domain::variables::reveal(&mut conn, deployment.parse().unwrap(), &app.state.secrets).await
}

fn deployment_labels(body: &Value) -> Vec<String> {
    body["data"]["workspaceDeployments"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|deployment| deployment["label"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn a_restored_dump_serves_the_same_data_with_the_same_keys() {
    let app = TestApp::spawn().await;
    let (root, root_id) = app.sign_up("root@example.com", PASSWORD).await;
    let workspace = app.create_workspace(&root, "Data").await;
    let deployment = app.create_deployment(&root, &workspace, "etl").await["id"].as_str().unwrap().to_owned();
    let body = app
        .gql(
            "mutation($d: Uuid!, $v: [InputEnvironmentVariable!]!) { updateDeploymentVariables(deploymentUuid: $d, environmentVariables: $v) { key } }",
            json!({"d": deployment, "v": [{"key": "API_TOKEN", "value": SECRET, "isSecret": true}]}),
            Some(&root),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let body = app
        .gql(
            "mutation($w: Uuid!) { createWorkspaceServiceAccount(label: \"ci\", workspaceUuid: $w, role: WORKSPACE_EDITOR) { apiKey } }",
            json!({"w": workspace}),
            Some(&root),
        )
        .await;
    let api_key = body["data"]["createWorkspaceServiceAccount"]["apiKey"].as_str().unwrap_or_else(|| panic!("{body}"));
    let deployments = "query($w: Uuid!) { workspaceDeployments(workspaceUuid: $w) { label } }";

    let folder = tempfile::tempdir().unwrap();
    let restored = dump_and_restore(&app.db_url, &folder.path().join("capcom.dump")).await;

    // The same keys: the data folder of the first server (its generated signing and sealing keys).
    let mut config = test_config();
    config.data_dir = app.state.config.data_dir.clone();
    let again = TestApp::spawn_on(config, restored.clone()).await;
    let ready = again.client.get(format!("{}/readyz", again.base)).send().await.unwrap();
    assert_eq!(ready.status(), 200, "the restored database has every migration");
    let body = again.gql("{ self { id } }", json!({}), Some(&root)).await;
    assert_eq!(body["data"]["self"]["id"], root_id.as_str(), "a token issued before works: {body}");
    let signed_in = again.sign_in("root@example.com", PASSWORD).await;
    assert!(signed_in["data"]["createToken"]["token"]["value"].is_string(), "{signed_in}");
    let body = again.gql(deployments, json!({"w": workspace}), Some(api_key)).await;
    assert_eq!(deployment_labels(&body), ["etl"], "the API key authenticates");
    let variables = revealed(&again, &deployment).await.expect("the sealed secret opens");
    assert_eq!(variables, [("API_TOKEN".to_owned(), SECRET.to_owned())]);
    // Audit events came along.
    let body = again.gql("{ auditEvents(first: 100) { totalCount } }", json!({}), Some(&root)).await;
    assert!(body["data"]["auditEvents"]["totalCount"].as_i64().unwrap_or_default() >= 4, "{body}");

    // Other keys (a new data folder): what is stored as a hash still works, what was signed or sealed
    // with the lost keys does not.
    let stranger = TestApp::spawn_on(test_config(), restored).await;
    let body = stranger.gql("{ self { id } }", json!({}), Some(&root)).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED", "tokens signed with the old key are refused: {body}");
    let signed_in = stranger.sign_in("root@example.com", PASSWORD).await;
    assert!(signed_in["data"]["createToken"]["token"]["value"].is_string(), "{signed_in}");
    let body = stranger.gql(deployments, json!({"w": workspace}), Some(api_key)).await;
    assert_eq!(deployment_labels(&body), ["etl"]);
    assert!(revealed(&stranger, &deployment).await.is_err(), "without the sealing key the secret is lost");
}
