//! Browsers on other sites: CORS preflights and headers from the `CAPCOM_CORS_ORIGINS` allowlist, the
//! WebSocket upgrade's `Origin` check, and the console at `/console/`.

use futures_util::{SinkExt, StreamExt};
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::common::TestApp;
use capcom::config::OriginList;

const CONSOLE: &str = "https://console.example.com";
const OTHER_SITE: &str = "https://evil.example.net";

async fn with_console_origin() -> TestApp {
    TestApp::spawn_with(|config| {
        config.cors_origins = format!("{CONSOLE}, http://localhost:3000").parse::<OriginList>().unwrap();
    })
    .await
}

fn cors_headers(headers: &HeaderMap) -> Vec<String> {
    headers.keys().map(|name| name.as_str().to_owned()).filter(|name| name.starts_with("access-control-")).collect()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers.get(name).map(|value| value.to_str().unwrap()).unwrap_or_else(|| panic!("no {name} in {headers:?}"))
}

/// The comma-separated items of a header, lower-cased.
fn items(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .flat_map(|value| value.to_str().unwrap().split(','))
        .map(|item| item.trim().to_ascii_lowercase())
        .collect()
}

async fn preflight(app: &TestApp, path: &str, origin: &str) -> reqwest::Response {
    app.client
        .request(Method::OPTIONS, format!("{}{path}", app.base))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization,content-type")
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn preflights_from_a_listed_origin_are_answered_204_with_methods_headers_and_max_age() {
    let app = with_console_origin().await;
    for path in ["/v1", "/graphql", "/healthz", "/readyz", "/.well-known/jwks.json", "/ws"] {
        let response = preflight(&app, path, CONSOLE).await;
        assert_eq!(response.status(), 204, "{path}");
        let headers = response.headers();
        assert_eq!(header(headers, "access-control-allow-origin"), CONSOLE, "{path}");
        let methods = items(headers, "access-control-allow-methods");
        assert!(methods.contains(&"get".into()) && methods.contains(&"post".into()), "{path}: {methods:?}");
        let allowed = items(headers, "access-control-allow-headers");
        for needed in ["authorization", "content-type", "x-request-id"] {
            assert!(allowed.contains(&needed.into()), "{path}: {needed} in {allowed:?}");
        }
        assert_eq!(header(headers, "access-control-max-age"), "7200", "{path}");
        assert!(headers.get("access-control-allow-credentials").is_none(), "no credentials mode: {path}");
        assert!(items(headers, "vary").contains(&"origin".into()), "{path}");
        assert!(headers.get("x-request-id").is_some(), "preflights carry a request id: {path}");
        assert!(response.bytes().await.unwrap().is_empty());
    }
    // The second listed origin, written with spaces after the comma, is on the list too.
    let response = preflight(&app, "/v1", "http://localhost:3000").await;
    assert_eq!(header(response.headers(), "access-control-allow-origin"), "http://localhost:3000");
}

#[tokio::test]
async fn a_preflight_from_an_origin_not_on_the_list_gets_no_cors_header_and_no_error_page() {
    let listed = with_console_origin().await;
    let empty_list = TestApp::spawn().await;
    for (app, origin) in [
        (&listed, OTHER_SITE),
        (&listed, "http://console.example.com"),
        (&listed, "https://console.example.com.evil.example.net"),
        (&listed, "null"),
        (&empty_list, CONSOLE),
        (&empty_list, empty_list.base.as_str()),
    ] {
        let response = preflight(app, "/v1", origin).await;
        assert_eq!(response.status(), 204, "{origin}");
        assert_eq!(cors_headers(response.headers()), Vec::<String>::new(), "{origin}");
        assert!(response.bytes().await.unwrap().is_empty(), "{origin}");
    }
    // OPTIONS with no Origin is no preflight (no browser sent it): the same empty answer.
    let response = listed.client.request(Method::OPTIONS, format!("{}/v1", listed.base)).send().await.unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(cors_headers(response.headers()), Vec::<String>::new());
}

async fn post_query(app: &TestApp, origin: Option<&str>, content_type: &str) -> reqwest::Response {
    let mut request = app
        .client
        .post(format!("{}/v1", app.base))
        .header("content-type", content_type)
        .body(json!({"query": "{ appConfig { version } }"}).to_string());
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn responses_name_a_listed_origin_and_expose_the_request_id_and_say_nothing_to_others() {
    let app = with_console_origin().await;

    let response = post_query(&app, Some(CONSOLE), "application/json").await;
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(header(&headers, "access-control-allow-origin"), CONSOLE);
    assert_eq!(items(&headers, "access-control-expose-headers"), ["x-request-id"]);
    assert!(headers.get("access-control-allow-credentials").is_none());
    assert!(items(&headers, "vary").contains(&"origin".into()));
    assert!(headers.get("x-request-id").is_some());
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["appConfig"]["version"], "2.1.0");

    // An error answered before GraphQL runs (wrong media type, body over the limit) still names the
    // origin, so that the console can read why.
    let unsupported = post_query(&app, Some(CONSOLE), "text/plain").await;
    assert_eq!(unsupported.status(), 415);
    assert_eq!(header(unsupported.headers(), "access-control-allow-origin"), CONSOLE);
    let too_large = app
        .client
        .post(format!("{}/v1", app.base))
        .header("origin", CONSOLE)
        .header("content-type", "application/json")
        .body(vec![b' '; app.state.config.max_body_bytes + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(too_large.status(), 413);
    assert_eq!(header(too_large.headers(), "access-control-allow-origin"), CONSOLE);

    // Another site, or no Origin at all (the CLI, curl): served as before, with no CORS header.
    for origin in [Some(OTHER_SITE), Some("null"), None] {
        let response = post_query(&app, origin, "application/json").await;
        assert_eq!(response.status(), 200, "{origin:?}");
        assert_eq!(cors_headers(response.headers()), Vec::<String>::new(), "{origin:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["data"]["appConfig"]["version"], "2.1.0", "{origin:?}");
    }
    let health = app.client.get(format!("{}/healthz", app.base)).header("origin", CONSOLE).send().await.unwrap();
    assert_eq!(header(health.headers(), "access-control-allow-origin"), CONSOLE);
}

/// Opens `/ws` with `origin` (if any) and sends `connection_init` with `token`: the first message, or the
/// HTTP status when the upgrade is refused.
async fn ws_handshake(app: &TestApp, origin: Option<&str>, token: &str) -> Result<Value, u16> {
    let url = format!("{}/ws", app.base.replace("http://", "ws://"));
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
    if let Some(origin) = origin {
        request.headers_mut().insert("origin", origin.parse().unwrap());
    }
    let mut socket = match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => socket,
        Err(WsError::Http(response)) => return Err(response.status().as_u16()),
        Err(other) => panic!("unexpected {other:?}"),
    };
    let init = json!({"type": "connection_init", "payload": {"authorization": token}});
    socket.send(Message::Text(init.to_string().into())).await.unwrap();
    match socket.next().await {
        Some(Ok(Message::Text(text))) => Ok(serde_json::from_str(&text).unwrap()),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn the_websocket_upgrade_refuses_pages_of_origins_not_on_the_list() {
    let app = with_console_origin().await;
    let (token, _) = app.sign_up("ada@example.com", "correct horse battery").await;
    let own_origin = app.base.clone();
    for origin in [None, Some(CONSOLE), Some("http://localhost:3000"), Some(own_origin.as_str())] {
        let reply = ws_handshake(&app, origin, &token).await.unwrap_or_else(|status| panic!("{origin:?}: {status}"));
        assert_eq!(reply["type"], "connection_ack", "{origin:?}");
    }
    let port = app.base.rsplit(':').next().unwrap();
    let other_port = format!("http://127.0.0.1:{}", port.parse::<u16>().unwrap() ^ 1);
    for origin in [OTHER_SITE, "null", "http://console.example.com", other_port.as_str(), "not an origin"] {
        assert_eq!(ws_handshake(&app, Some(origin), &token).await, Err(403), "{origin}");
    }

    // With an empty list, only the page's own origin (and non-browser clients) may connect.
    let same_origin_only = TestApp::spawn().await;
    let (token, _) = same_origin_only.sign_up("ada@example.com", "correct horse battery").await;
    let own_origin = same_origin_only.base.clone();
    for origin in [None, Some(own_origin.as_str())] {
        let reply = ws_handshake(&same_origin_only, origin, &token).await.unwrap();
        assert_eq!(reply["type"], "connection_ack", "{origin:?}");
    }
    assert_eq!(ws_handshake(&same_origin_only, Some(CONSOLE), &token).await, Err(403));
}

#[tokio::test]
async fn the_console_is_served_by_default_at_the_root_console_and_invite_and_not_when_turned_off() {
    let app = TestApp::spawn().await;
    let index = std::fs::read(format!("{}/console/index.html", env!("CARGO_MANIFEST_DIR"))).unwrap();
    for path in ["/", "/console/", "/invite?token=abc"] {
        let page = app.client.get(format!("{}{path}", app.base)).send().await.unwrap();
        assert_eq!(page.status(), 200, "{path}");
        assert_eq!(header(page.headers(), "content-type"), "text/html; charset=utf-8");
        let policy = header(page.headers(), "content-security-policy");
        assert!(policy.contains("script-src 'self'") && policy.contains("connect-src 'self'"), "{policy}");
        assert!(!policy.contains("unsafe"), "{policy}");
        assert_eq!(page.bytes().await.unwrap().as_ref(), index.as_slice(), "{path}");
    }
    let html = String::from_utf8(index).unwrap();
    assert!(html.contains("/console/js/app.js") && html.contains("/console/console.css"));
    assert!(!html.contains("https://") && !html.contains("http://"), "no CDN: every file comes from capcom");
    for (file, kind) in
        [("js/app.js", "text/javascript"), ("js/pages/workspace.js", "text/javascript"), ("console.css", "text/css")]
    {
        let response = app.client.get(format!("{}/console/{file}", app.base)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{file}");
        assert!(header(response.headers(), "content-type").starts_with(kind), "{file}");
        let on_disk = std::fs::read(format!("{}/console/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        assert_eq!(response.bytes().await.unwrap().as_ref(), on_disk.as_slice(), "{file} is the embedded copy");
    }
    for missing in ["secrets.txt", "README.md", "js/../../Cargo.toml", "js/nothing.js"] {
        let response = app.client.get(format!("{}/console/{missing}", app.base)).send().await.unwrap();
        assert_eq!(response.status(), 404, "{missing}");
    }
    let no_redirects = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let bare = no_redirects.get(format!("{}/console", app.base)).send().await.unwrap();
    assert_eq!(bare.status(), 308);
    assert_eq!(header(bare.headers(), "location"), "/console/");

    let disabled = TestApp::spawn_with(|config| config.console = false).await;
    for path in ["/", "/console/", "/invite", "/console/js/app.js"] {
        let response = disabled.client.get(format!("{}{path}", disabled.base)).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
    }
}

/// The console's security headers, written from docs/console.md ("Headers"): every file of the console
/// carries all of them, and the policy the page documents is the one sent.
#[tokio::test]
async fn every_console_file_carries_the_documented_security_headers() {
    const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                          connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
    let app = TestApp::spawn().await;
    for path in [
        "/",
        "/console/",
        "/invite?token=abc",
        "/console/js/app.js",
        "/console/js/pages/users.js",
        "/console/console.css",
    ] {
        let response = app.client.get(format!("{}{path}", app.base)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers();
        assert_eq!(header(headers, "content-security-policy"), POLICY, "{path}");
        assert_eq!(header(headers, "x-frame-options"), "DENY", "{path}");
        assert_eq!(header(headers, "x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header(headers, "referrer-policy"), "no-referrer", "{path}");
        assert_eq!(header(headers, "cache-control"), "no-cache", "{path}");
    }
    // The same with the files read from a folder (CAPCOM_CONSOLE_DIR, development).
    let from_disk = TestApp::spawn_with(|config| {
        config.console_dir = Some(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("console"));
    })
    .await;
    let response = from_disk.client.get(format!("{}/console/js/app.js", from_disk.base)).send().await.unwrap();
    assert_eq!(header(response.headers(), "content-security-policy"), POLICY);
    assert_eq!(header(response.headers(), "x-frame-options"), "DENY");

    let docs = std::fs::read_to_string(format!("{}/docs/console.md", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let docs = docs.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(docs.contains(&format!("`Content-Security-Policy: {POLICY}`")), "docs/console.md states the policy sent");
    for (name, value) in [
        ("X-Frame-Options", "DENY"),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
        ("Cache-Control", "no-cache"),
    ] {
        assert!(docs.contains(&format!("| `{name}` | `{value}` |")), "docs/console.md names {name}: {value}");
    }
}
