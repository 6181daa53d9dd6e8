//! Hostile documents and inputs: each is refused before it costs more than a parse, with BAD_USER_INPUT,
//! and the server keeps answering.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{TestApp, captured_logs, error_code, error_message};

/// Posts `query` and returns the body; the client gives up after 20 s (the server answers in
/// milliseconds; before the limits, several of these documents took minutes or crashed the process).
async fn post(app: &TestApp, query: &str, variables: Value, token: Option<&str>) -> Value {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
    let mut request = client.post(format!("{}/v1", app.base)).json(&json!({"query": query, "variables": variables}));
    if let Some(token) = token {
        request = request.header("Authorization", token);
    }
    let response = request.send().await.expect("an answer within 20 s");
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn still_serves(app: &TestApp) {
    let body = post(app, "{ appConfig { version } }", json!({}), None).await;
    assert_eq!(body["data"]["appConfig"]["version"], "2.1.0", "{body}");
}

fn doubling_fragments(levels: usize) -> String {
    let mut query = String::from("{ workspaces { ...G0 } }");
    for level in 0..levels {
        query.push_str(&format!(" fragment G{level} on Workspace {{ ...G{next} ...G{next} }}", next = level + 1));
    }
    query.push_str(&format!(" fragment G{levels} on Workspace {{ id }}"));
    query
}

#[tokio::test]
async fn fragments_that_double_at_each_level_are_refused_without_expanding_them() {
    let app = TestApp::spawn().await;
    // 2^40 fields once expanded: walking them would never end.
    let body = post(&app, &doubling_fragments(40), json!({}), None).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    assert!(error_message(&body).contains("once its fragments are expanded"), "{body}");
    assert!(body.get("data").is_none(), "a refused document executes nothing: {body}");
    still_serves(&app).await;
}

#[tokio::test]
async fn fragment_cycles_deep_nesting_and_token_floods_are_refused() {
    let app = TestApp::spawn().await;
    let cycle = "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A ...A }";
    let body = post(&app, cycle, json!({}), None).await;
    assert!(error_message(&body).contains("spreads itself"), "{body}");

    // Nested list values used to overflow a worker's stack and abort the process.
    let nested = format!("{{ appConfig(x: {}1{}) {{ version }} }}", "[".repeat(5000), "]".repeat(5000));
    let body = post(&app, &nested, json!({}), None).await;
    assert!(error_message(&body).contains("nests brackets"), "{body}");

    let flood = format!("{{ appConfig {{ {} }} }}", "version ".repeat(20_000));
    let body = post(&app, &flood, json!({}), None).await;
    assert!(error_message(&body).contains("tokens"), "{body}");

    let many_fragments: String =
        (0..101).map(|n| format!(" fragment F{n} on Query {{ appConfig {{ version }} }}")).collect();
    let body = post(&app, &format!("{{ ...F0 }}{many_fragments}"), json!({}), None).await;
    assert!(error_message(&body).contains("fragments"), "{body}");

    let directives = format!("{{ appConfig {{ version {} }} }}", "@include(if: true) ".repeat(101));
    let body = post(&app, &directives, json!({}), None).await;
    assert!(error_message(&body).contains("directives"), "{body}");
    still_serves(&app).await;
}

#[tokio::test]
async fn a_document_with_thousands_of_errors_answers_a_bounded_list() {
    let app = TestApp::spawn().await;
    let fields: String = (0..2000).map(|n| format!(" nope{n}")).collect();
    let body = post(&app, &format!("{{ appConfig {{{fields} }} }}"), json!({}), None).await;
    let errors = body["errors"].as_array().unwrap();
    assert!(errors.len() <= 51, "{} errors", errors.len());
    assert!(errors.last().unwrap()["message"].as_str().unwrap().contains("more errors were omitted"));
}

#[tokio::test]
async fn nul_characters_are_bad_user_input_naming_the_field_wherever_a_text_enters() {
    let app = TestApp::spawn().await;
    let (root, _) = app.sign_up("root@example.com", "correct horse battery").await;
    let before = app.access_snapshot().await;

    let body = post(&app, r#"{ users(user: {email: "a\u0000b"}) { id } }"#, json!({}), Some(&root)).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], "user.email");

    let sign_in = "mutation($identity: String, $password: String!) { createToken(identity: $identity, password: $password) { token { value } } }";
    let body = post(&app, sign_in, json!({"identity": "a\u{0}@example.com", "password": "whatever!"}), None).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], "identity");

    // Inside JSON scalars too (PostgreSQL's jsonb refuses \u0000 as well), keys included; a variable is
    // named by the argument it is passed as (`payload`), not by its own name (`$p`).
    let update = "mutation($p: JSON!) { updateSelf(payload: $p) { id } }";
    for payload in [json!({"profile": {"bio": "x\u{0}y"}}), json!({"profile": {"k\u{0}": 1}})] {
        let body = post(&app, update, json!({"p": payload}), Some(&root)).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
        assert!(body["errors"][0]["extensions"]["field"].as_str().unwrap().starts_with("payload.profile"), "{body}");
    }
    let label = r#"mutation { createWorkspace(label: "a\u0000b") { id } }"#;
    let body = post(&app, label, json!({}), Some(&root)).await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "label", "{body}");
    assert_eq!(app.access_snapshot().await, before, "refused inputs change nothing");
}

#[tokio::test]
async fn list_inputs_longer_than_the_list_cap_are_bad_user_input() {
    let app = TestApp::spawn_with(|config| config.list_cap = 5).await;
    let (root, _) = app.sign_up("root@example.com", "correct horse battery").await;
    let workspace = app.create_workspace(&root, "Data").await;
    let deployment = app.create_deployment(&root, &workspace, "etl").await["id"].as_str().unwrap().to_owned();
    let variables: Vec<Value> = (0..6).map(|n| json!({"key": format!("K{n}"), "value": "v"})).collect();
    let body = post(
        &app,
        "mutation($d: Uuid!, $v: [InputEnvironmentVariable!]!) { updateDeploymentVariables(deploymentUuid: $d, environmentVariables: $v) { key } }",
        json!({"d": deployment, "v": variables}),
        Some(&root),
    )
    .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], "environmentVariables", "the argument, not `$v`");
}

#[tokio::test]
async fn an_internal_error_names_the_request_id_of_its_log_line() {
    let app = TestApp::spawn().await;
    let (root, _) = app.sign_up("root@example.com", "correct horse battery").await;
    // Break this test's own database under the server: reading workspaces now fails unexpectedly.
    {
        use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
        let mut conn = AsyncPgConnection::establish(&app.db_url).await.unwrap();
        conn.batch_execute("ALTER TABLE workspaces RENAME TO workspaces_moved").await.unwrap();
    }
    let response = app
        .client
        .post(format!("{}/v1", app.base))
        .header("Authorization", &root)
        .json(&json!({"query": "{ workspaces { id } }"}))
        .send()
        .await
        .unwrap();
    let request_id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_code(&body), "INTERNAL", "{body}");
    assert_eq!(error_message(&body), format!("Internal error (request {request_id})"));
    assert!(!error_message(&body).contains("workspaces"), "no SQL detail leaks");
    let logs = captured_logs();
    let line = logs.lines().find(|line| line.contains("internal error") && line.contains(&request_id));
    assert!(line.is_some(), "the log line carries the id {request_id}");
}

#[tokio::test]
async fn a_client_request_id_is_kept_only_when_it_is_short_and_plain() {
    let app = TestApp::spawn().await;
    let send = |id: &'static str| {
        app.client
            .post(format!("{}/v1", app.base))
            .header("x-request-id", id)
            .json(&json!({"query": "{ appConfig { version } }"}))
            .send()
    };
    let kept = send("trace-1234.abc").await.unwrap();
    assert_eq!(kept.headers()["x-request-id"], "trace-1234.abc");
    let replaced = send("evil id with spaces <script>").await.unwrap();
    assert_ne!(replaced.headers()["x-request-id"], "evil id with spaces <script>");
    assert_eq!(replaced.headers()["x-request-id"].len(), 36, "a generated UUID");
}
