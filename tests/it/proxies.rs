//! `CAPCOM_TRUSTED_PROXIES`: the client's address is the socket's peer unless that peer is a trusted proxy,
//! then the rightmost untrusted hop of the forwarding header (docs/operations.md, "Running behind a
//! proxy"). Observed where it matters: the per-address sign-in throttle, audit events' `clientAddress` and
//! the request log line.

use std::net::IpAddr;

use serde_json::{Value, json};

use crate::common::{TestApp, captured_logs, error_code, error_message};

const SIGN_IN: &str = "mutation($identity: String, $password: String!) { createToken(identity: $identity, password: $password) { token { value } } }";
const PASSWORD: &str = "correct horse battery";

/// Sends one GraphQL operation from `client` with extra `headers`; returns the body.
async fn gql_with(
    app: &TestApp,
    client: &reqwest::Client,
    headers: &[(&str, &str)],
    query: &str,
    variables: Value,
    token: Option<&str>,
) -> Value {
    let mut request = client.post(format!("{}/v1", app.base)).json(&json!({"query": query, "variables": variables}));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(token) = token {
        request = request.header("Authorization", token);
    }
    let response = request.send().await.expect("request");
    assert_eq!(response.status(), 200);
    response.json().await.expect("JSON body")
}

/// A client whose connections come from `address` (any 127.0.0.0/8 address is local on Linux).
fn client_from(address: &str) -> reqwest::Client {
    reqwest::Client::builder().local_address(address.parse::<IpAddr>().expect("address")).build().expect("client")
}

/// Signs in as the root user with `headers`; asserts it worked.
async fn sign_in_with(app: &TestApp, client: &reqwest::Client, headers: &[(&str, &str)]) {
    let body =
        gql_with(app, client, headers, SIGN_IN, json!({"identity": "root@example.com", "password": PASSWORD}), None)
            .await;
    assert!(body["data"]["createToken"]["token"]["value"].is_string(), "{body}");
}

/// A failed sign-in with `headers`; returns its error message.
async fn fail_sign_in(app: &TestApp, client: &reqwest::Client, headers: &[(&str, &str)], n: usize) -> String {
    let variables = json!({"identity": format!("nobody{n}@example.com"), "password": "wrong password"});
    let body = gql_with(app, client, headers, SIGN_IN, variables, None).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED", "{body}");
    error_message(&body).to_owned()
}

/// `clientAddress` of the `user.signIn` events, oldest first.
async fn sign_in_addresses(app: &TestApp, root: &str) -> Vec<String> {
    let body =
        app.gql("{ auditEvents(first: 100) { edges { node { action clientAddress } } } }", json!({}), Some(root)).await;
    let edges = body["data"]["auditEvents"]["edges"].as_array().unwrap_or_else(|| panic!("{body}")).clone();
    let mut addresses: Vec<String> = edges
        .iter()
        .filter(|edge| edge["node"]["action"] == "user.signIn")
        .map(|edge| edge["node"]["clientAddress"].as_str().unwrap_or("none").to_owned())
        .collect();
    addresses.reverse();
    addresses
}

const THROTTLED: &str = "Too many failed sign-in attempts";

#[tokio::test]
async fn a_forged_forwarding_header_from_an_untrusted_peer_is_ignored() {
    // The default: no proxy is trusted.
    let app = TestApp::spawn_with(|config| config.login_max_failures_per_address = 2).await;
    app.sign_up("root@example.com", PASSWORD).await;
    let client = reqwest::Client::new();
    for n in 0..2 {
        let forged = format!("203.0.113.{n}");
        let message =
            fail_sign_in(&app, &client, &[("x-forwarded-for", &forged), ("forwarded", &format!("for={forged}"))], n)
                .await;
        assert!(!message.starts_with(THROTTLED), "{message}");
    }
    // A new forged address each time does not escape the throttle: it counts the socket's peer.
    let message = fail_sign_in(&app, &client, &[("x-forwarded-for", "198.51.100.77")], 9).await;
    assert!(message.starts_with(THROTTLED), "{message}");
    let body = gql_with(
        &app,
        &client,
        &[("x-forwarded-for", "198.51.100.78")],
        SIGN_IN,
        json!({"identity": "root@example.com", "password": PASSWORD}),
        None,
    )
    .await;
    assert!(error_message(&body).starts_with(THROTTLED), "even the right password waits: {body}");

    // The audit trail names the peer, not what the request claimed.
    let other = TestApp::spawn().await;
    let (other_root, _) = other.sign_up("root@example.com", PASSWORD).await;
    sign_in_with(&other, &client, &[("x-forwarded-for", "203.0.113.50"), ("forwarded", "for=203.0.113.51")]).await;
    assert_eq!(sign_in_addresses(&other, &other_root).await, ["127.0.0.1"]);
}

#[tokio::test]
async fn a_trusted_proxy_names_the_client_and_each_client_has_its_own_throttle() {
    let app = TestApp::spawn_with(|config| {
        config.trusted_proxies = "127.0.0.1/32".parse().unwrap();
        config.login_max_failures_per_address = 2;
    })
    .await;
    let (root, _) = app.sign_up("root@example.com", PASSWORD).await;
    let client = reqwest::Client::new();
    let attacker = [("x-forwarded-for", "203.0.113.66")];
    for n in 0..2 {
        let message = fail_sign_in(&app, &client, &attacker, n).await;
        assert!(!message.starts_with(THROTTLED), "{message}");
    }
    let message = fail_sign_in(&app, &client, &attacker, 2).await;
    assert!(message.starts_with(THROTTLED), "the attacker's address is throttled: {message}");
    // Someone else behind the same proxy is not locked out by the attacker.
    let request_id = format!("proxy-{}", uuid::Uuid::new_v4().simple());
    sign_in_with(&app, &client, &[("x-forwarded-for", "198.51.100.1, 203.0.113.7"), ("x-request-id", &request_id)])
        .await;
    assert_eq!(sign_in_addresses(&app, &root).await, ["203.0.113.7"], "the rightmost hop, not what the client wrote");
    // The request's log line carries the same address.
    let logs = captured_logs();
    let line = logs
        .lines()
        .find(|line| line.contains(&request_id) && line.contains("client_address="))
        .unwrap_or_else(|| panic!("no log line for {request_id}"));
    assert!(line.contains("client_address=203.0.113.7"), "{line}");
}

#[tokio::test]
async fn a_chain_of_trusted_proxies_is_walked_from_the_right() {
    let app = TestApp::spawn_with(|config| config.trusted_proxies = "127.0.0.1/32, 10.0.0.0/8".parse().unwrap()).await;
    let (root, _) = app.sign_up("root@example.com", PASSWORD).await;
    let client = reqwest::Client::new();
    // The client forged the first hop; two trusted proxies appended theirs.
    sign_in_with(&app, &client, &[("x-forwarded-for", "198.51.100.1, 203.0.113.7, 10.1.1.1")]).await;
    // Hops split over several header lines are one list.
    sign_in_with(&app, &client, &[("x-forwarded-for", "198.51.100.1, 203.0.113.8"), ("x-forwarded-for", "10.1.1.1")])
        .await;
    // Every hop trusted: the leftmost is the client.
    sign_in_with(&app, &client, &[("x-forwarded-for", "10.9.9.9, 10.1.1.1")]).await;
    // A trusted hop that wrote no address: the client is that hop, never the forgery beyond it.
    sign_in_with(&app, &client, &[("x-forwarded-for", "198.51.100.1, unknown, 10.1.1.2")]).await;
    // IPv6, with the port some proxies add.
    sign_in_with(&app, &client, &[("x-forwarded-for", "[2001:db8::17]:4711")]).await;
    // `Forwarded` is not the configured header: ignored.
    sign_in_with(&app, &client, &[("forwarded", "for=203.0.113.99")]).await;
    assert_eq!(
        sign_in_addresses(&app, &root).await,
        ["203.0.113.7", "203.0.113.8", "10.9.9.9", "10.1.1.2", "2001:db8::17", "127.0.0.1"]
    );
}

#[tokio::test]
async fn a_peer_outside_the_trusted_networks_is_the_client() {
    let app = TestApp::spawn_with(|config| {
        config.trusted_proxies = "127.0.0.1/32".parse().unwrap();
        config.login_max_failures_per_address = 2;
    })
    .await;
    let (root, _) = app.sign_up("root@example.com", PASSWORD).await;
    // 127.0.0.2 is not 127.0.0.1: what it forwards is not believed.
    let outsider = client_from("127.0.0.2");
    sign_in_with(&app, &outsider, &[("x-forwarded-for", "203.0.113.7")]).await;
    assert_eq!(sign_in_addresses(&app, &root).await, ["127.0.0.2"]);
    for n in 0..2 {
        let forged = format!("203.0.113.{n}");
        fail_sign_in(&app, &outsider, &[("x-forwarded-for", &forged)], n).await;
    }
    let message = fail_sign_in(&app, &outsider, &[("x-forwarded-for", "203.0.113.200")], 5).await;
    assert!(message.starts_with(THROTTLED), "{message}");
    // The trusted proxy's clients are not affected by the outsider's throttle.
    sign_in_with(&app, &reqwest::Client::new(), &[("x-forwarded-for", "198.51.100.4")]).await;
}

#[tokio::test]
async fn proxies_that_write_forwarded_are_read_by_rfc_7239() {
    let app = TestApp::spawn_with(|config| {
        config.trusted_proxies = "127.0.0.1".parse().unwrap();
        config.trusted_proxy_header = capcom::config::ProxyHeader::Forwarded;
    })
    .await;
    let (root, _) = app.sign_up("root@example.com", PASSWORD).await;
    let client = reqwest::Client::new();
    sign_in_with(&app, &client, &[("forwarded", "for=198.51.100.1, for=\"[2001:db8:cafe::17]:4711\";proto=https")])
        .await;
    sign_in_with(&app, &client, &[("forwarded", "for=198.51.100.1;by=127.0.0.1, for=_hidden")]).await;
    // `X-Forwarded-For` is not the configured header: ignored.
    sign_in_with(&app, &client, &[("x-forwarded-for", "203.0.113.7")]).await;
    assert_eq!(sign_in_addresses(&app, &root).await, ["2001:db8:cafe::17", "127.0.0.1", "127.0.0.1"]);
}
