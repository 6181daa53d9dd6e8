//! Deploys: numbering, deployInfo, DAG-only rule, CI/CD enforcement.

use serde_json::json;

use crate::common::{TestApp, error_code};

const DEPLOY: &str = "mutation($d: Uuid!, $t: DeployType!, $tag: String, $bundle: String) { createDeploy(deploymentUuid: $d, type: $t, tag: $tag, bundle: $bundle) { type revision tag bundle } }";
const INFO: &str = "query($w: Uuid!) { workspaceDeployments(workspaceUuid: $w) { deployInfo { current nextCli } } }";

#[tokio::test]
async fn deploys_are_numbered_and_follow_the_deployment_settings() {
    let app = TestApp::spawn_with(|config| config.public_signups = true).await;
    let root = app.with_owners().await;
    let (viewer, _) = app.sign_up("viewer@example.com", "correct horse battery").await;
    let workspace = app.create_workspace(&root, "Data").await;
    app.add_to_workspace(&root, &workspace, "viewer@example.com", "WORKSPACE_VIEWER").await;
    let id = app.create_deployment(&root, &workspace, "etl").await["id"].as_str().unwrap().to_owned();

    let body = app.gql(DEPLOY, json!({"d": id, "t": "IMAGE"}), Some(&root)).await;
    assert_eq!(
        body["data"]["createDeploy"],
        json!({"type": "IMAGE", "revision": 1, "tag": "deploy-1", "bundle": null})
    );
    let info = app.gql(INFO, json!({"w": workspace}), Some(&root)).await;
    assert_eq!(
        info["data"]["workspaceDeployments"][0]["deployInfo"],
        json!({"current": "deploy-1", "nextCli": "deploy-2"})
    );

    let body = app.gql(DEPLOY, json!({"d": id, "t": "IMAGE", "tag": "v1.2.3"}), Some(&root)).await;
    assert_eq!(body["data"]["createDeploy"]["revision"], 2);
    let bad_tag = app.gql(DEPLOY, json!({"d": id, "t": "IMAGE", "tag": "no spaces"}), Some(&root)).await;
    assert_eq!(bad_tag["errors"][0]["extensions"]["field"], "tag");

    let dag = app.gql(DEPLOY, json!({"d": id, "t": "DAG", "bundle": "s3://bucket/dags.tar.gz"}), Some(&root)).await;
    assert_eq!(error_code(&dag), "BAD_USER_INPUT", "DAG deploys need dagDeployEnabled");
    assert_eq!(dag["errors"][0]["extensions"]["field"], "type");
    app.gql(
        "mutation($d: Uuid!) { updateDeployment(deploymentUuid: $d, settings: {dagDeployEnabled: true}) { id } }",
        json!({"d": id}),
        Some(&root),
    )
    .await;
    let dag = app.gql(DEPLOY, json!({"d": id, "t": "DAG", "bundle": "s3://bucket/dags.tar.gz"}), Some(&root)).await;
    assert_eq!(dag["data"]["createDeploy"]["revision"], 3, "{dag}");
    let info = app.gql(INFO, json!({"w": workspace}), Some(&root)).await;
    assert_eq!(
        info["data"]["workspaceDeployments"][0]["deployInfo"],
        json!({"current": "v1.2.3", "nextCli": "deploy-4"})
    );

    let denied = app.gql(DEPLOY, json!({"d": id, "t": "IMAGE"}), Some(&viewer)).await;
    assert_eq!(error_code(&denied), "FORBIDDEN");

    app.gql(
        "mutation($d: Uuid!) { updateDeployment(deploymentUuid: $d, settings: {enforceCicd: true}) { id } }",
        json!({"d": id}),
        Some(&root),
    )
    .await;
    let before = app.count("SELECT count(*) AS n FROM deploys").await;
    let body = app.gql(DEPLOY, json!({"d": id, "t": "IMAGE"}), Some(&root)).await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    assert!(
        body["errors"][0]["message"].as_str().unwrap().contains("enforceCicd"),
        "the message names the setting: {body}"
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM deploys").await, before, "nothing recorded");
    assert_eq!(app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'deployment.deploy'").await, 3);
}

/// Concurrent deploys number their revisions 1..n without gaps or repeats, and the deploy state every
/// list answers from (kept on the deployment row) agrees with the deploys recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_deploys_keep_the_deploy_state_exact() {
    let app = TestApp::spawn_with(|config| config.public_signups = true).await;
    let root = app.with_owners().await;
    let workspace = app.create_workspace(&root, "Data").await;
    let id = app.create_deployment(&root, &workspace, "etl").await["id"].as_str().unwrap().to_owned();
    app.gql(
        "mutation($d: Uuid!) { updateDeployment(deploymentUuid: $d, settings: {dagDeployEnabled: true}) { id } }",
        json!({"d": id}),
        Some(&root),
    )
    .await;
    let deploys = (0..16).map(|index| {
        let variables = if index % 3 == 0 {
            json!({"d": id, "t": "DAG", "bundle": format!("s3://bucket/dags-{index}.tar.gz")})
        } else {
            json!({"d": id, "t": "IMAGE", "tag": format!("v{index}")})
        };
        app.gql(DEPLOY, variables, Some(&root))
    });
    let answers = futures_util::future::join_all(deploys).await;
    let mut revisions: Vec<i64> =
        answers.iter().map(|body| body["data"]["createDeploy"]["revision"].as_i64().expect("a revision")).collect();
    revisions.sort();
    assert_eq!(revisions, (1..=16).collect::<Vec<_>>());
    let newest_image =
        app.text("SELECT image_tag AS t FROM deploys WHERE kind = 'IMAGE' ORDER BY revision DESC LIMIT 1").await;
    let info = app.gql(INFO, json!({"w": workspace}), Some(&root)).await;
    assert_eq!(
        info["data"]["workspaceDeployments"][0]["deployInfo"],
        json!({"current": newest_image, "nextCli": "deploy-17"})
    );
}
