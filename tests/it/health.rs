//! `/healthz`, `/readyz`, JWKS, GraphiQL served offline.

use crate::common::{TestApp, captured_logs, empty_database, test_config};

#[tokio::test]
async fn ready_when_migrated_and_not_otherwise() {
    let app = TestApp::spawn().await;
    let get = |path: &str| app.client.get(format!("{}{path}", app.base)).send();
    assert_eq!(get("/healthz").await.unwrap().status(), 200);
    assert_eq!(get("/readyz").await.unwrap().status(), 200);

    // Database reachable but never migrated.
    let unmigrated = TestApp::spawn_on(test_config(), empty_database().await).await;
    let status = app.client.get(format!("{}/readyz", unmigrated.base)).send().await.unwrap().status();
    assert_eq!(status, 503);

    // Database unreachable: nothing listens on that port.
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut config = test_config();
    config.pool_size = 1;
    let unreachable = TestApp::spawn_on(config, format!("postgres://capcom:x@127.0.0.1:{closed_port}/capcom")).await;
    let response = app.client.get(format!("{}/readyz", unreachable.base)).send().await.unwrap();
    assert_eq!(response.status(), 503);
    // The warning written while serving it names the request (docs/operations.md, "Request logs").
    let request_id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    let logs = captured_logs();
    let warning =
        logs.lines().find(|line| line.contains("readiness: database unreachable") && line.contains(&request_id));
    assert!(warning.is_some(), "a warning names the request {request_id}");
    assert_eq!(app.client.get(format!("{}/healthz", unreachable.base)).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn graphiql_and_its_assets_are_served_by_capcom() {
    let app = TestApp::spawn().await;
    let page = app.client.get(format!("{}/v1", app.base)).header("accept", "text/html").send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers().get("x-request-id").is_some());
    let html = page.text().await.unwrap();
    assert!(!html.contains("https://"), "no CDN: every asset comes from capcom");
    for asset in ["graphiql.min.js", "graphiql.min.css", "react.production.min.js", "react-dom.production.min.js"] {
        assert!(html.contains(&format!("/graphiql/{asset}")));
        let response = app.client.get(format!("{}/graphiql/{asset}", app.base)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{asset}");
        assert!(response.bytes().await.unwrap().len() > 1000);
    }
}

#[tokio::test]
async fn jwks_publishes_the_public_key_only() {
    let app = TestApp::spawn().await;
    let jwks: serde_json::Value =
        app.client.get(format!("{}/.well-known/jwks.json", app.base)).send().await.unwrap().json().await.unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "OKP");
    assert_eq!(key["alg"], "EdDSA");
    assert!(key.get("d").is_none(), "no private part");
}
