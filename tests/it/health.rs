//! `/healthz`, `/readyz`, JWKS, GraphiQL served offline.

use crate::common::browser::Browser;
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
    let page_policy = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");
    let html = page.text().await.unwrap();
    assert!(!html.contains("https://"), "no CDN: every asset comes from capcom");
    // Written from docs/security.md, "Browser pages": capcom's own scripts only, no framing.
    assert_eq!(
        page_policy,
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
         font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    );
    assert!(!html.contains("<script>"), "no inline script: the policy would refuse it");
    for asset in
        ["graphiql.min.js", "graphiql.min.css", "react.production.min.js", "react-dom.production.min.js", "start.js"]
    {
        assert!(html.contains(&format!("/graphiql/{asset}")));
        let response = app.client.get(format!("{}/graphiql/{asset}", app.base)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{asset}");
        assert_eq!(response.headers()["x-content-type-options"], "nosniff", "{asset}");
        assert!(response.bytes().await.unwrap().len() > 500, "{asset}");
    }
}

/// GraphiQL in a real browser under its policy: it starts, runs its default query against capcom with
/// nothing refused, and a script injected into the page does not run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphiql_runs_its_query_under_its_policy_and_refuses_injected_script() {
    let app = TestApp::spawn().await;
    let browser = Browser::start().await;
    browser.goto(&format!("{}/v1", app.base)).await;
    browser.wait_for(".graphiql-container .graphiql-query-editor .CodeMirror").await;
    browser.click(".graphiql-execute-button").await;
    let answer = browser
        .run_async(
            r#"const done = arguments[arguments.length - 1];
               const started = Date.now();
               (function poll() {
                 const text = document.querySelector(".result-window")?.innerText ?? "";
                 if (text.includes("version") || Date.now() - started > 15000) done(text);
                 else setTimeout(poll, 50);
               })();"#,
            vec![],
        )
        .await;
    let answer = answer.as_str().unwrap_or_default().to_owned();
    assert!(answer.contains("\"appConfig\"") && answer.contains("\"version\""), "the default query's answer: {answer}");
    let refused: Vec<serde_json::Value> = browser
        .log()
        .await
        .into_iter()
        .filter(|entry| entry["message"].as_str().is_some_and(|message| message.contains("Content Security Policy")))
        .collect();
    assert!(refused.is_empty(), "GraphiQL needs nothing the policy refuses: {refused:?}");
    let ran = browser
        .run(
            r#"const script = document.createElement("script");
               script.textContent = "window.injected = true";
               document.body.appendChild(script);
               return window.injected === true;"#,
            vec![],
        )
        .await;
    assert_eq!(ran, serde_json::Value::Bool(false), "an inline script injected into the page does not run");
    let log = browser.log().await;
    assert!(
        log.iter().any(|entry| entry["message"]
            .as_str()
            .is_some_and(|m| m.contains("inline script") && m.contains("Content Security Policy"))),
        "the browser refused it for the policy: {log:?}"
    );
    browser.close().await;
}

/// Every answer of capcom's origin is marked `nosniff` (docs/security.md, "Browser pages"): JSON and text
/// answers cannot be loaded as scripts by a page of the origin, whose policy trusts the origin's scripts.
#[tokio::test]
async fn every_answer_is_marked_nosniff() {
    let app = TestApp::spawn().await;
    let answers = [
        app.client.get(format!("{}/healthz", app.base)).send().await.unwrap(),
        app.client.get(format!("{}/readyz", app.base)).send().await.unwrap(),
        app.client.get(format!("{}/.well-known/jwks.json", app.base)).send().await.unwrap(),
        app.client.get(format!("{}/v1?query=%7B__typename%7D", app.base)).send().await.unwrap(),
        app.client
            .post(format!("{}/v1", app.base))
            .json(&serde_json::json!({"query": "{ __typename }"}))
            .send()
            .await
            .unwrap(),
        app.client.post(format!("{}/v1", app.base)).body("not json").send().await.unwrap(),
        app.client.get(format!("{}/no-such-page", app.base)).send().await.unwrap(),
    ];
    for answer in answers {
        let url = answer.url().to_string();
        assert_eq!(
            answer.headers().get("x-content-type-options").map(|v| v.to_str().unwrap()),
            Some("nosniff"),
            "{url}"
        );
    }
}

/// `GET /v1` answers the page or JSON by `Accept`, so every answer names it in `Vary` (RFC 9110 §12.5.5):
/// a shared cache must not hand the page to an API client, or JSON to a browser.
#[tokio::test]
async fn a_get_answer_varies_by_accept() {
    let app = TestApp::spawn().await;
    let asks = [
        ("/v1", "text/html"),
        ("/graphql", "text/html"),
        ("/v1?query=%7B__typename%7D", "application/json"),
        ("/v1?query=%7B__typename%7D", "application/graphql-response+json"),
        ("/v1?query=%7B", "application/json"),
    ];
    for (path, accept) in asks {
        let answer = app.client.get(format!("{}{path}", app.base)).header("accept", accept).send().await.unwrap();
        let vary: Vec<String> = answer
            .headers()
            .get_all("vary")
            .iter()
            .flat_map(|value| value.to_str().unwrap().split(','))
            .map(|item| item.trim().to_ascii_lowercase())
            .collect();
        assert!(vary.contains(&"accept".to_owned()), "{path} as {accept}: Vary {vary:?}");
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
