//! `/metrics` after known traffic: every counter and histogram moves by exactly that traffic, the output
//! parses as the Prometheus text format, and no label carries a token, an email address or an id.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures_util::SinkExt;
use prometheus_parse::{Sample, Scrape, Value};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::common::TestApp;

async fn scrape(app: &TestApp) -> (String, Scrape) {
    let response = app.client.get(format!("{}/metrics", app.base)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"),
        "the text exposition format"
    );
    let text = response.text().await.unwrap();
    let parsed = Scrape::parse(text.lines().map(|line| Ok(line.to_owned()))).expect("the output parses");
    (text, parsed)
}

fn matches(sample: &Sample, name: &str, labels: &[(&str, &str)]) -> bool {
    sample.metric == name && labels.iter().all(|(key, value)| sample.labels.get(key) == Some(*value))
}

/// The value of a counter, gauge or untyped sample (`_sum`, `_count`); 0 when absent.
fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<f64> = scrape
        .samples
        .iter()
        .filter(|sample| matches(sample, name, labels))
        .map(|sample| match sample.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
            _ => panic!("{name} is not a plain value"),
        })
        .collect();
    assert!(found.len() <= 1, "{name} {labels:?} names one series: {found:?}");
    found.first().copied().unwrap_or(0.0)
}

/// A histogram's bucket counts by upper bound.
fn buckets(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> HashMap<String, f64> {
    scrape
        .samples
        .iter()
        .filter(|sample| matches(sample, name, labels))
        .flat_map(|sample| match &sample.value {
            Value::Histogram(counts) => counts.iter().map(|c| (c.less_than.to_string(), c.count)).collect::<Vec<_>>(),
            _ => panic!("{name} is not a histogram"),
        })
        .collect()
}

fn delta(before: &Scrape, after: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    value(after, name, labels) - value(before, name, labels)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_by_exactly_the_traffic_sent() {
    let app = TestApp::spawn().await;
    let (root, root_id) = app.sign_up("root@example.com", "correct horse battery").await;
    let (_, before) = scrape(&app).await;
    let statements_before = app.state.statements.load(Ordering::SeqCst);

    // Queries: two fine, one NOT_FOUND.
    for _ in 0..2 {
        let body = app.gql("{ self { id } }", json!({}), Some(&root)).await;
        assert!(body.get("errors").is_none(), "{body}");
    }
    let body = app
        .gql(
            "query($w: Uuid!) { workspaceUsers(workspaceUuid: $w) { id } }",
            json!({"w": uuid::Uuid::new_v4()}),
            Some(&root),
        )
        .await;
    assert_eq!(crate::common::error_code(&body), "NOT_FOUND", "{body}");
    // Mutations: two fine (one queues a mail), one BAD_USER_INPUT, two failed sign-ins.
    app.create_workspace(&root, "Data").await;
    let body = app.gql("mutation { inviteUser(email: \"new@example.com\") { id } }", json!({}), Some(&root)).await;
    assert!(body.get("errors").is_none(), "{body}");
    let body = app.gql("mutation { createWorkspace(label: \"\") { id } }", json!({}), Some(&root)).await;
    assert_eq!(crate::common::error_code(&body), "BAD_USER_INPUT", "{body}");
    for _ in 0..2 {
        let body = app.sign_in("root@example.com", "wrong password").await;
        assert_eq!(crate::common::error_code(&body), "UNAUTHENTICATED", "{body}");
    }
    // A body that is not JSON.
    let response = app
        .client
        .post(format!("{}/v1", app.base))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);

    let statements_sent = app.state.statements.load(Ordering::SeqCst) - statements_before;
    let (text, after) = scrape(&app).await;
    let statements_total = app.state.statements.load(Ordering::SeqCst);

    let requests = "capcom_graphql_requests_total";
    assert_eq!(delta(&before, &after, requests, &[("type", "query"), ("outcome", "ok")]), 2.0);
    assert_eq!(delta(&before, &after, requests, &[("type", "query"), ("outcome", "error")]), 1.0);
    assert_eq!(delta(&before, &after, requests, &[("type", "mutation"), ("outcome", "ok")]), 2.0);
    assert_eq!(delta(&before, &after, requests, &[("type", "mutation"), ("outcome", "error")]), 3.0);
    assert_eq!(delta(&before, &after, requests, &[("type", "invalid"), ("outcome", "error")]), 1.0);
    let errors = "capcom_graphql_errors_total";
    assert_eq!(delta(&before, &after, errors, &[("code", "NOT_FOUND")]), 1.0);
    assert_eq!(delta(&before, &after, errors, &[("code", "BAD_USER_INPUT")]), 2.0);
    assert_eq!(delta(&before, &after, errors, &[("code", "UNAUTHENTICATED")]), 2.0);
    assert_eq!(delta(&before, &after, errors, &[("code", "FORBIDDEN")]), 0.0);
    assert_eq!(delta(&before, &after, "capcom_sign_in_failures_total", &[("reason", "invalid_credentials")]), 2.0);
    assert_eq!(delta(&before, &after, "capcom_sign_in_failures_total", &[("reason", "throttled")]), 0.0);

    // Histograms: one observation per request, by type; the statements observed add up to those run.
    let durations = "capcom_graphql_request_duration_seconds_count";
    assert_eq!(delta(&before, &after, durations, &[("type", "query")]), 3.0);
    assert_eq!(delta(&before, &after, durations, &[("type", "mutation")]), 5.0);
    assert_eq!(delta(&before, &after, durations, &[("type", "invalid")]), 1.0);
    let statement_sum: f64 = ["query", "mutation", "invalid"]
        .iter()
        .map(|kind| delta(&before, &after, "capcom_sql_statements_per_request_sum", &[("type", kind)]))
        .sum();
    assert_eq!(statement_sum, statements_sent as f64, "statements per request add up to the statements run");
    let invalid = buckets(&after, "capcom_sql_statements_per_request", &[("type", "invalid")]);
    assert_eq!(invalid.get("0"), Some(&1.0), "an unreadable body costs no statement: {invalid:?}");
    let latency = buckets(&after, "capcom_graphql_request_duration_seconds", &[("type", "query")]);
    assert_eq!(latency.get("inf"), Some(&value(&after, durations, &[("type", "query")])), "{latency:?}");

    // Totals and moments.
    assert_eq!(value(&after, "capcom_sql_statements_total", &[("database", "primary")]), statements_total as f64);
    assert_eq!(value(&after, "capcom_graphql_requests_routed_total", &[("database", "standby")]), 0.0);
    assert_eq!(value(&after, "capcom_mail_outbox_pending", &[]), 1.0, "the invite's mail waits (no SMTP)");
    assert_eq!(value(&after, "capcom_db_pool_max_connections", &[("database", "primary")]), 8.0);
    assert_eq!(value(&after, "capcom_db_pool_connections", &[("database", "primary"), ("state", "in_use")]), 0.0);
    assert!(value(&after, "capcom_db_pool_connections", &[("database", "primary"), ("state", "idle")]) >= 1.0);

    // Bounded labels only: nothing of the caller's reaches the output.
    for secret in [root.as_str(), root_id.as_str(), "root@example.com", "new@example.com"] {
        assert!(!text.contains(secret), "the metrics name {secret}");
    }
    let allowed: &[(&str, &[&str])] = &[
        ("type", &["query", "mutation", "subscription", "batch", "invalid"]),
        ("outcome", &["ok", "error"]),
        (
            "code",
            &[
                "UNAUTHENTICATED",
                "FORBIDDEN",
                "NOT_FOUND",
                "BAD_USER_INPUT",
                "CONFLICT",
                "NOT_SUPPORTED",
                "UNAVAILABLE",
                "INTERNAL",
                "OTHER",
            ],
        ),
        ("database", &["primary", "standby"]),
        ("state", &["idle", "in_use"]),
        ("reason", &["invalid_credentials", "throttled"]),
        ("kind", &["retry", "given_up"]),
        ("event", &["expired", "hibernated", "woke"]),
    ];
    for sample in &after.samples {
        for (key, value) in sample.labels.iter() {
            let known = allowed.iter().find(|(name, _)| name == key).unwrap_or_else(|| panic!("label {key}"));
            assert!(known.1.contains(&value.as_str()), "{}: {key}={value}", sample.metric);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_sockets_and_subscriptions_are_gauged() {
    let app = TestApp::spawn().await;
    let (token, _) = app.sign_up("root@example.com", "correct horse battery").await;
    let workspace = app.create_workspace(&token, "Data").await;
    let deployment = app.create_deployment(&token, &workspace, "etl").await["id"].as_str().unwrap().to_owned();

    let mut request = format!("{}/ws", app.base.replace("http://", "ws://")).into_client_request().unwrap();
    request.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let init = json!({"type": "connection_init", "payload": {"authorization": token}});
    socket.send(Message::Text(init.to_string().into())).await.unwrap();
    let subscribe = json!({"id": "1", "type": "subscribe", "payload": {
        "query": "subscription($d: Uuid) { deploymentStatus(deploymentUuid: $d) { id } }",
        "variables": {"d": deployment}
    }});
    socket.send(Message::Text(subscribe.to_string().into())).await.unwrap();

    let gauges = |scrape: &Scrape| {
        (value(scrape, "capcom_websockets_open", &[]), value(scrape, "capcom_subscriptions_open", &[]))
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, now) = scrape(&app).await;
        if gauges(&now) == (1.0, 1.0) {
            break;
        }
        assert!(Instant::now() < deadline, "the socket and subscription are counted: {:?}", gauges(&now));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    socket.close(None).await.unwrap();
    drop(socket);
    loop {
        let (_, now) = scrape(&app).await;
        if gauges(&now) == (0.0, 0.0) {
            break;
        }
        assert!(Instant::now() < deadline, "closing is counted: {:?}", gauges(&now));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
