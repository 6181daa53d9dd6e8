//! The binary's request log: one JSON line per request with its id (a proxy's `x-request-id` kept), the
//! operation, the principal's id, duration, SQL statement count and error code, and never a token, a
//! password or an email address; `/metrics` on its own address with `CAPCOM_METRICS_LISTEN`.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};

use crate::common::TestApp;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn post(client: &reqwest::Client, base: &str, id: &str, token: Option<&str>, body: Value) -> Value {
    let mut request = client.post(format!("{base}/v1")).header("x-request-id", id).json(&body);
    if let Some(token) = token {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.headers()["x-request-id"], id, "the proxy's request id is kept");
    response.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_is_one_json_line_without_secrets() {
    // A migrated database of its own (the in-process server on it stays idle).
    let database = TestApp::spawn().await.db_url;
    let data = tempfile::Builder::new().prefix("capcom-logs-").tempdir_in(std::env::temp_dir()).unwrap();
    let log_path = data.path().join("stderr.log");
    let (port, metrics_port) = (free_port(), free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_capcom"))
        .env("DATABASE_URL", &database)
        .env("CAPCOM_DATA_DIR", data.path())
        .env("CAPCOM_LISTEN", format!("127.0.0.1:{port}"))
        .env("CAPCOM_METRICS_LISTEN", format!("127.0.0.1:{metrics_port}"))
        .env("CAPCOM_LOG_FORMAT", "json")
        .env("RUST_LOG", "info,capcom::sql=trace")
        .env("CAPCOM_PUBLIC_SIGNUPS", "true")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !client.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status() == 200) {
        assert!(child.try_wait().unwrap().is_none(), "capcom exited");
        assert!(Instant::now() < deadline, "capcom did not become ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let password = "a rather secret password";
    let signed_up = post(
        &client,
        &base,
        "proxy-1.sign-up",
        None,
        json!({"query": "mutation SignUp($e: String!, $p: String!) { createUser(email: $e, password: $p) { user { id } token { value } } }",
               "variables": {"e": "ada@example.com", "p": password}}),
    )
    .await;
    let token = signed_up["data"]["createUser"]["token"]["value"].as_str().unwrap().to_owned();
    let user_id = signed_up["data"]["createUser"]["user"]["id"].as_str().unwrap().to_owned();
    post(&client, &base, "proxy-2.me", Some(&token), json!({"query": "query Me { self { id } }"})).await;
    let refused = post(&client, &base, "proxy-3.stale", Some("not-a-token"), json!({"query": "{ self { id } }"})).await;
    assert_eq!(refused["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");

    // The metrics have their own address, and only there.
    let metrics = client.get(format!("http://127.0.0.1:{metrics_port}/metrics")).send().await.unwrap();
    assert_eq!(metrics.status(), 200);
    assert!(
        metrics.text().await.unwrap().contains("capcom_graphql_requests_total{outcome=\"ok\",type=\"mutation\"} 1")
    );
    assert_eq!(client.get(format!("{base}/metrics")).send().await.unwrap().status(), 404);

    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap()).await.unwrap();
    assert!(status.success());
    let log = std::fs::read_to_string(&log_path).unwrap();

    let mut lines: HashMap<String, Vec<Value>> = HashMap::new();
    let mut statements: HashMap<String, usize> = HashMap::new();
    for line in log.lines() {
        let entry: Value = serde_json::from_str(line).unwrap_or_else(|_| panic!("every line is JSON: {line}"));
        if entry["target"] == "capcom::request" {
            let id = entry["fields"]["request_id"].as_str().unwrap().to_owned();
            lines.entry(id).or_default().push(entry["fields"].clone());
        }
        if entry["target"] == "capcom::sql" {
            let id = entry["fields"]["request_id"].as_str().unwrap_or_default().to_owned();
            *statements.entry(id).or_default() += 1;
        }
    }
    // The lines written while serving a request name it too: its SQL statements at TRACE.
    assert_eq!(statements.get("proxy-2.me"), Some(&1), "the statement of `self` names its request: {statements:?}");
    assert!(statements.get("proxy-1.sign-up").is_some_and(|count| *count > 1), "{statements:?}");
    for id in ["proxy-1.sign-up", "proxy-2.me", "proxy-3.stale"] {
        assert_eq!(lines.get(id).map(Vec::len), Some(1), "one line for {id}: {lines:?}");
    }
    let sign_up = &lines["proxy-1.sign-up"][0];
    assert_eq!(sign_up["operation"], "SignUp");
    assert_eq!(sign_up["operation_type"], "mutation");
    assert_eq!(sign_up["principal"], "anonymous");
    assert_eq!(sign_up["error_code"], "");
    assert!(sign_up["sql_statements"].as_u64().unwrap() > 0);
    let me = &lines["proxy-2.me"][0];
    assert_eq!(me["operation"], "Me");
    assert_eq!(me["principal"], format!("user:{user_id}"));
    assert_eq!(me["status"], 200);
    assert!(me["duration_ms"].as_f64().unwrap() > 0.0);
    // Milliseconds to the microsecond, without a float's artefacts (`1.2340000000000002`).
    let duration = me["duration_ms"].to_string();
    assert!(duration.split('.').nth(1).map_or(0, str::len) <= 3, "{duration}");
    assert_eq!(me["sql_statements"], 1, "self costs the one statement that loads the caller");
    let stale = &lines["proxy-3.stale"][0];
    assert_eq!(stale["principal"], "rejected");
    assert_eq!(stale["error_code"], "UNAUTHENTICATED");

    for secret in [token.as_str(), password, "ada@example.com", "not-a-token"] {
        assert!(!log.contains(secret), "the log holds {secret}");
    }
}
