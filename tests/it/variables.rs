//! Environment variables: the key rules, replace-all, secrets kept when sent empty, never returned,
//! never logged or audited, and stored only encrypted.

use serde_json::{Value, json};

use crate::common::{TestApp, captured_logs, error_code};

const UPDATE: &str = "mutation($d: Uuid!, $vars: [InputEnvironmentVariable!]!) { updateDeploymentVariables(deploymentUuid: $d, environmentVariables: $vars) { key value isSecret } }";
const SECRET: &str = "s3cr3t-value-that-must-never-leak";

async fn setup() -> (TestApp, String, String) {
    let app = TestApp::spawn().await;
    let (root, _) = app.sign_up("root@example.com", "correct horse battery").await;
    let workspace = app.create_workspace(&root, "Data").await;
    let deployment = app.create_deployment(&root, &workspace, "etl").await["id"].as_str().unwrap().to_owned();
    (app, root, deployment)
}

#[tokio::test]
async fn secrets_are_kept_encrypted_and_never_shown() {
    let (app, root, deployment) = setup().await;
    let body = app
        .gql(
            UPDATE,
            json!({"d": deployment, "vars": [
                {"key": "API_TOKEN", "value": SECRET, "isSecret": true},
                {"key": "MODE", "value": "fast", "isSecret": false},
            ]}),
            Some(&root),
        )
        .await;
    assert_eq!(
        body["data"]["updateDeploymentVariables"],
        json!([{"key": "API_TOKEN", "value": "", "isSecret": true}, {"key": "MODE", "value": "fast", "isSecret": false}])
    );

    // Replace-all: MODE changes, a new key arrives, the secret is sent empty and keeps its value.
    let body = app
        .gql(
            UPDATE,
            json!({"d": deployment, "vars": [
                {"key": "API_TOKEN", "value": "", "isSecret": true},
                {"key": "MODE", "value": "slow"},
                {"key": "EXTRA", "value": "1"},
            ]}),
            Some(&root),
        )
        .await;
    assert_eq!(body["data"]["updateDeploymentVariables"].as_array().map(Vec::len), Some(3), "{body}");
    let listed = app
        .gql(
            "query($d: Uuid!) { deploymentVariables(deploymentUuid: $d) { key value isSecret } }",
            json!({"d": deployment}),
            Some(&root),
        )
        .await;
    assert!(!listed.to_string().contains(SECRET));
    let secrets = capcom::domain::variables::reveal(
        &mut <diesel_async::AsyncPgConnection as diesel_async::AsyncConnection>::establish(&app.db_url).await.unwrap(),
        deployment.parse().unwrap(),
        &app.state.secrets,
    )
    .await
    .unwrap();
    assert!(secrets.contains(&("API_TOKEN".to_owned(), SECRET.to_owned())), "the kept secret still opens");

    // Stored only sealed; never in audit events or logs.
    assert_eq!(app.count("SELECT count(*) AS n FROM environment_variables WHERE is_secret AND value IS NULL AND secret_ciphertext IS NOT NULL").await, 1);
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM environment_variables WHERE position('{SECRET}'::bytea IN secret_ciphertext) > 0"
        ))
        .await,
        0
    );
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM audit_events WHERE (before::text || after::text) LIKE '%{SECRET}%'"
        ))
        .await,
        0
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'deployment.variables.update'").await,
        2
    );
    let logs = captured_logs();
    assert!(logs.contains("/v1"), "the capture sees request logs");
    assert!(!logs.contains(SECRET), "the secret is never logged");
}

#[tokio::test]
async fn variable_rules_are_enforced_and_change_nothing() {
    let (app, root, deployment) = setup().await;
    app.gql(UPDATE, json!({"d": deployment, "vars": [{"key": "KEEP", "value": "1"}]}), Some(&root)).await;
    let before =
        app.text("SELECT coalesce(json_agg(t ORDER BY t.key), '[]')::text AS t FROM environment_variables t").await;
    let cases: Vec<(Value, &str)> = vec![
        (json!([{"key": "lower", "value": "x"}]), "environmentVariables.0.key"),
        (json!([{"key": "1ABC", "value": "x"}]), "environmentVariables.0.key"),
        (json!([{"key": "___", "value": "x"}]), "environmentVariables.0.key"),
        (
            json!([{"key": "OK", "value": "x"}, {"key": "AIRFLOW__CORE__FERNET_KEY", "value": "x"}]),
            "environmentVariables.1.key",
        ),
        (json!([{"key": "TWICE", "value": "x"}, {"key": "TWICE", "value": "y"}]), "environmentVariables.1.key"),
        // Airflow reads a reserved option from `<KEY>_CMD` (a shell command) and `<KEY>_SECRET` too.
        (
            json!([{"key": "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_CMD", "value": "sh -c 'echo postgresql://evil'"}]),
            "environmentVariables.0.key",
        ),
        (
            json!([{"key": "AIRFLOW__CORE__FERNET_KEY_SECRET", "value": "x", "isSecret": true}]),
            "environmentVariables.0.key",
        ),
        (
            json!([{"key": "KEEP", "value": "1"}, {"key": "AIRFLOW__CELERY__BROKER_URL_CMD", "value": "x"}]),
            "environmentVariables.1.key",
        ),
        // How Airflow authenticates its API is the platform's: `default` would let anyone in.
        (
            json!([{"key": "AIRFLOW__API__AUTH_BACKENDS", "value": "airflow.api.auth.backend.default"}]),
            "environmentVariables.0.key",
        ),
        // Showing the configuration would show the platform's secrets; the broker's options are the
        // platform's.
        (json!([{"key": "AIRFLOW__WEBSERVER__EXPOSE_CONFIG", "value": "True"}]), "environmentVariables.0.key"),
        (json!([{"key": "AIRFLOW__API__EXPOSE_CONFIG", "value": "True"}]), "environmentVariables.0.key"),
        (
            json!([{"key": "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS", "value": "evil.module.CONFIG"}]),
            "environmentVariables.0.key",
        ),
        (json!([{"key": "NEW_SECRET", "value": "", "isSecret": true}]), "environmentVariables.0.value"),
    ];
    for (vars, field) in cases {
        let body = app.gql(UPDATE, json!({"d": deployment, "vars": vars}), Some(&root)).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{vars}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{vars}");
    }
    let after =
        app.text("SELECT coalesce(json_agg(t ORDER BY t.key), '[]')::text AS t FROM environment_variables t").await;
    assert_eq!(before, after);
}

#[tokio::test]
async fn only_editors_change_variables_and_viewers_read_them() {
    let app = TestApp::spawn_with(|config| config.public_signups = true).await;
    let root = app.with_owners().await;
    let (viewer, _) = app.sign_up("viewer@example.com", "correct horse battery").await;
    let workspace = app.create_workspace(&root, "Data").await;
    app.add_to_workspace(&root, &workspace, "viewer@example.com", "WORKSPACE_VIEWER").await;
    let deployment = app.create_deployment(&root, &workspace, "etl").await;
    let id = deployment["id"].as_str().unwrap();
    let body = app.gql(UPDATE, json!({"d": id, "vars": [{"key": "A", "value": "1"}]}), Some(&viewer)).await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    let body = app
        .gql(
            "query($r: String!) { deploymentVariables(releaseName: $r) { key } }",
            json!({"r": deployment["releaseName"]}),
            Some(&viewer),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    let body =
        app.gql("{ deploymentVariables(releaseName: \"no-such-release\") { key } }", json!({}), Some(&viewer)).await;
    assert_eq!(error_code(&body), "FORBIDDEN", "an unknown release name reveals nothing");
}
