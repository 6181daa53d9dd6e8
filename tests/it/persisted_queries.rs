//! Apollo's automatic persisted queries over HTTP (`docs/limits.md`, "Persisted queries"): a client sends
//! `extensions.persistedQuery { version: 1, sha256Hash }` without the text; an unknown hash is answered
//! `PersistedQueryNotFound` (code `PERSISTED_QUERY_NOT_FOUND`, HTTP 200, as Apollo Server answers and its
//! clients expect), the client sends text and hash, and from then on the hash alone runs the document,
//! over `POST` and `GET`. A document run by hash is the same request as its text: authenticated,
//! admitted, validated, costed and authorized every time.
//!
//! The hashes below were computed outside capcom (`printf '%s' "$TEXT" | sha256sum`).

use std::sync::atomic::Ordering;

use reqwest::header::{ACCEPT, CACHE_CONTROL};
use serde_json::{Value, json};

use crate::common::{TestApp, error_code, error_message};

const APP_CONFIG: &str = "{ appConfig { version } }";
const APP_CONFIG_SHA256: &str = "addda89a474c2aec88ad97989261298b3afafe0ccceaa58265d8baa231a17ce0";
const SELF: &str = "{ self { id username } }";
const SELF_SHA256: &str = "3e8d8ef745406644a4d7665d83e926b5f61951c94dc0debd107ea0261095ff7e";
const LOGOUT: &str = "mutation { logout }";
const LOGOUT_SHA256: &str = "2b42a93be5f43fae6ef5cabcbbb84131a0644641c129d44e996842f4713e082a";

fn persisted(hash: &str) -> Value {
    json!({"persistedQuery": {"version": 1, "sha256Hash": hash}})
}

/// A `POST /v1` of `body`: (status, Cache-Control, body).
async fn post(app: &TestApp, body: Value, token: Option<&str>, accept: Option<&str>) -> (u16, String, Value) {
    let mut request = app.client.post(format!("{}/v1", app.base)).json(&body);
    if let Some(token) = token {
        request = request.header("Authorization", token);
    }
    if let Some(accept) = accept {
        request = request.header(ACCEPT, accept);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let cache = response.headers().get(CACHE_CONTROL).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, cache, response.json().await.unwrap_or(Value::Null))
}

/// A `GET /v1` with `parameters` (`extensions` as JSON text): (status, Cache-Control, body).
async fn get(app: &TestApp, parameters: &[(&str, String)], token: Option<&str>) -> (u16, String, Value) {
    let mut request = app.client.get(format!("{}/v1", app.base)).query(parameters);
    if let Some(token) = token {
        request = request.header("Authorization", token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let cache = response.headers().get(CACHE_CONTROL).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, cache, response.json().await.unwrap_or(Value::Null))
}

fn assert_not_found(status: u16, cache: &str, body: &Value) {
    assert_eq!(status, 200, "{body}");
    assert_eq!(error_message(body), "PersistedQueryNotFound", "{body}");
    assert_eq!(error_code(body), "PERSISTED_QUERY_NOT_FOUND", "{body}");
    assert!(body.get("data").is_none(), "nothing ran: {body}");
    assert!(cache.contains("no-cache"), "not kept by a cache: {cache:?}");
}

#[test]
fn the_hashes_of_these_tests_are_the_documents_sha256() {
    use sha2::Digest;
    let hex = |text: &str| sha2::Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect::<String>();
    assert_eq!(hex(APP_CONFIG), APP_CONFIG_SHA256);
    assert_eq!(hex(SELF), SELF_SHA256);
    assert_eq!(hex(LOGOUT), LOGOUT_SHA256);
}

#[tokio::test]
async fn a_hash_runs_the_document_registered_with_it_over_post_and_get() {
    let app = TestApp::spawn().await;
    let statements = || app.state.statements.load(Ordering::SeqCst);

    // Unknown hash: Apollo's error, with HTTP 200 whatever the media type, before anything else (no
    // statement: the caller is not even authenticated).
    let before = statements();
    let (status, cache, body) = post(&app, json!({"extensions": persisted(APP_CONFIG_SHA256)}), None, None).await;
    assert_not_found(status, &cache, &body);
    let (status, cache, body) = post(
        &app,
        json!({"extensions": persisted(APP_CONFIG_SHA256)}),
        None,
        Some("application/graphql-response+json"),
    )
    .await;
    assert_not_found(status, &cache, &body);
    let (status, cache, body) = get(&app, &[("extensions", persisted(APP_CONFIG_SHA256).to_string())], None).await;
    assert_not_found(status, &cache, &body);
    assert_eq!(statements(), before, "an unknown hash costs no statement");

    // Text and hash: runs, and registers the text.
    let (status, _, body) =
        post(&app, json!({"query": APP_CONFIG, "extensions": persisted(APP_CONFIG_SHA256)}), None, None).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["appConfig"]["version"], "2.1.0", "{body}");

    // The hash alone now runs it, over POST and GET.
    let (status, _, body) = post(&app, json!({"extensions": persisted(APP_CONFIG_SHA256)}), None, None).await;
    assert_eq!(status, 200);
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"]["appConfig"]["version"], "2.1.0", "{body}");
    let (status, _, body) = get(&app, &[("extensions", persisted(APP_CONFIG_SHA256).to_string())], None).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["appConfig"]["version"], "2.1.0", "{body}");
    // Clients may send the hash in upper case too.
    let upper = persisted(&APP_CONFIG_SHA256.to_uppercase());
    let (_, _, body) = post(&app, json!({"extensions": upper}), None, None).await;
    assert_eq!(body["data"]["appConfig"]["version"], "2.1.0", "{body}");

    // GET registers as well.
    let (_, _, body) = get(&app, &[("extensions", persisted(SELF_SHA256).to_string())], None).await;
    assert_eq!(error_code(&body), "PERSISTED_QUERY_NOT_FOUND", "{body}");
    let (_, _, body) =
        get(&app, &[("query", SELF.to_owned()), ("extensions", persisted(SELF_SHA256).to_string())], None).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED", "ran, anonymously: {body}");
    let (_, _, body) = get(&app, &[("extensions", persisted(SELF_SHA256).to_string())], None).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED", "ran by hash: {body}");
}

#[tokio::test]
async fn a_hash_that_is_not_the_texts_or_is_malformed_is_bad_user_input() {
    let app = TestApp::spawn().await;
    // The text of one document with the hash of another: refused, and nothing is registered.
    let (status, _, body) =
        post(&app, json!({"query": APP_CONFIG, "extensions": persisted(SELF_SHA256)}), None, None).await;
    assert_eq!(status, 200, "application/json: every GraphQL error is HTTP 200");
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], "extensions.persistedQuery.sha256Hash", "{body}");
    assert!(body.get("data").is_none(), "{body}");
    let (_, _, body) = post(&app, json!({"extensions": persisted(SELF_SHA256)}), None, None).await;
    assert_eq!(error_code(&body), "PERSISTED_QUERY_NOT_FOUND", "the mismatch registered nothing: {body}");
    // With the GraphQL-over-HTTP media type, a request error: 400.
    let (status, _, body) = post(
        &app,
        json!({"query": APP_CONFIG, "extensions": persisted(SELF_SHA256)}),
        None,
        Some("application/graphql-response+json"),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
    // Malformed entries name what is wrong.
    for (extensions, field) in [
        (
            json!({"persistedQuery": {"version": 2, "sha256Hash": APP_CONFIG_SHA256}}),
            "extensions.persistedQuery.version",
        ),
        (json!({"persistedQuery": {"version": 1, "sha256Hash": "abc"}}), "extensions.persistedQuery.sha256Hash"),
        (json!({"persistedQuery": {"version": 1}}), "extensions.persistedQuery.sha256Hash"),
        (json!({"persistedQuery": true}), "extensions.persistedQuery"),
    ] {
        let (_, _, body) = post(&app, json!({"extensions": extensions}), None, None).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{extensions}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{extensions}: {body}");
    }
    // No query and no hash is still a malformed request.
    let (status, _, body) = post(&app, json!({"extensions": {}}), None, None).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
}

/// `self { roleBindings { workspace { users { … { id } } } } }`, `depth` fields deep
/// counting `self` and `id` (the depth `CAPCOM_MAX_DEPTH` limits).
fn deep(depth: usize) -> String {
    let names = ["roleBindings", "workspace", "users"];
    let mut inner = String::from("id");
    for level in (0..depth - 2).rev() {
        inner = format!("{} {{ {inner} }}", names[level % 3]);
    }
    format!("{{ self {{ {inner} }} }}")
}

fn hash_of(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn a_document_run_by_hash_is_authenticated_limited_and_authorized_every_time() {
    let app = TestApp::spawn_with(|config| {
        config.public_signups = true;
        config.max_depth = 3;
        config.max_reply_objects = 100;
    })
    .await;
    let (alice, alice_id) = app.sign_up("alice@example.com", "correct horse battery").await;
    let (bob, bob_id) = app.sign_up("bob@example.com", "correct horse battery").await;

    // Registered by Alice; Bob's hash-only request gets Bob, an anonymous one is refused.
    let (_, _, body) =
        post(&app, json!({"query": SELF, "extensions": persisted(SELF_SHA256)}), Some(&alice), None).await;
    assert_eq!(body["data"]["self"]["id"], alice_id.as_str(), "{body}");
    let (_, _, body) = post(&app, json!({"extensions": persisted(SELF_SHA256)}), Some(&bob), None).await;
    assert_eq!(body["data"]["self"]["id"], bob_id.as_str(), "{body}");
    let (_, _, body) = post(&app, json!({"extensions": persisted(SELF_SHA256)}), None, None).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED", "{body}");
    let (_, _, body) = post(&app, json!({"extensions": persisted(SELF_SHA256)}), Some("not-a-token"), None).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED", "{body}");

    // Too deep (CAPCOM_MAX_DEPTH is 3 here): refused when sent as text (and so registered), and refused
    // again by hash alone, before anything but authentication ran.
    let too_deep = deep(4);
    let extensions = persisted(&hash_of(&too_deep));
    let (_, _, body) = post(&app, json!({"query": too_deep, "extensions": extensions}), Some(&alice), None).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
    assert!(error_message(&body).contains("nested too deep"), "{body}");
    for _ in 0..2 {
        let before = app.state.statements.load(Ordering::SeqCst);
        let (_, _, body) = post(&app, json!({"extensions": extensions}), Some(&alice), None).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "not PersistedQueryNotFound: it is known; {body}");
        assert!(error_message(&body).contains("nested too deep"), "{body}");
        assert!(body.get("data").is_none(), "{body}");
        assert_eq!(app.state.statements.load(Ordering::SeqCst) - before, 1, "only the caller was loaded");
    }
    // Within the depth but over the reply's cap of objects (CAPCOM_MAX_REPLY_OBJECTS is 100 here; a list
    // with no first/take is counted at 20 items): six aliases of a list are about 120 objects.
    let wide = format!(
        "{{ {} }}",
        (0..6).map(|n| format!("a{n}: self {{ roleBindings {{ id }} }}")).collect::<Vec<_>>().join(" ")
    );
    let extensions = persisted(&hash_of(&wide));
    let (_, _, body) = post(&app, json!({"query": wide, "extensions": extensions}), Some(&alice), None).await;
    assert!(error_message(&body).contains("CAPCOM_MAX_REPLY_OBJECTS"), "{body}");
    let (_, _, body) = post(&app, json!({"extensions": extensions}), Some(&alice), None).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
    assert!(error_message(&body).contains("CAPCOM_MAX_REPLY_OBJECTS"), "{body}");
    // At the depth limit, by hash, it runs.
    let honest = deep(3);
    let extensions = persisted(&hash_of(&honest));
    let (_, _, body) = post(&app, json!({"query": honest, "extensions": extensions}), Some(&alice), None).await;
    assert!(body.get("errors").is_none(), "{body}");
    let (_, _, body) = post(&app, json!({"extensions": extensions}), Some(&alice), None).await;
    assert!(body.get("errors").is_none(), "{body}");
    assert!(body["data"]["self"]["roleBindings"].is_array(), "{body}");

    // A mutation registered over POST is still refused over GET when named by its hash.
    let (_, _, body) =
        post(&app, json!({"query": LOGOUT, "extensions": persisted(LOGOUT_SHA256)}), Some(&bob), None).await;
    assert!(body.get("errors").is_none(), "{body}");
    let (status, _, body) = get(&app, &[("extensions", persisted(LOGOUT_SHA256).to_string())], Some(&alice)).await;
    assert_eq!(status, 405, "{body}");
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
    let body = app.gql("{ self { id } }", json!({}), Some(&alice)).await;
    assert_eq!(body["data"]["self"]["id"], alice_id.as_str(), "Alice was not signed out by a GET: {body}");
}

#[tokio::test]
async fn each_operation_of_a_batch_is_resolved_on_its_own() {
    let app = TestApp::spawn().await;
    let batch = json!([
        {"extensions": persisted(APP_CONFIG_SHA256)},
        {"query": "{ __typename }"},
        {"query": APP_CONFIG, "extensions": persisted(APP_CONFIG_SHA256)},
        {"query": APP_CONFIG, "extensions": persisted(SELF_SHA256)},
    ]);
    let (status, cache, body) = post(&app, batch, None, None).await;
    assert_eq!(status, 200);
    assert!(cache.contains("no-cache"), "{cache:?}");
    let answers = body.as_array().unwrap_or_else(|| panic!("a batch answer: {body}"));
    assert_eq!(answers.len(), 4, "{body}");
    assert_eq!(error_code(&answers[0]), "PERSISTED_QUERY_NOT_FOUND", "{body}");
    assert_eq!(answers[1]["data"]["__typename"], "Query", "{body}");
    assert_eq!(answers[2]["data"]["appConfig"]["version"], "2.1.0", "{body}");
    assert_eq!(error_code(&answers[3]), "BAD_USER_INPUT", "{body}");
    // Registered by the third: the same batch's first now runs.
    let (_, _, body) = post(&app, json!([{"extensions": persisted(APP_CONFIG_SHA256)}]), None, None).await;
    assert_eq!(body[0]["data"]["appConfig"]["version"], "2.1.0", "{body}");
    // Only unknown hashes: answered without running anything.
    let (_, _, body) = post(&app, json!([{"extensions": persisted(SELF_SHA256)}]), None, None).await;
    assert_eq!(error_code(&body[0]), "PERSISTED_QUERY_NOT_FOUND", "{body}");
}

#[tokio::test]
async fn with_persisted_queries_off_clients_are_told_they_are_not_supported() {
    let app = TestApp::spawn_with(|config| config.persisted_query_entries = 0).await;
    for body in [
        json!({"extensions": persisted(APP_CONFIG_SHA256)}),
        json!({"query": APP_CONFIG, "extensions": persisted(APP_CONFIG_SHA256)}),
    ] {
        let (status, _, reply) = post(&app, body, None, None).await;
        assert_eq!(status, 200);
        assert_eq!(error_message(&reply), "PersistedQueryNotSupported", "{reply}");
        assert_eq!(error_code(&reply), "PERSISTED_QUERY_NOT_SUPPORTED", "{reply}");
    }
    // Without the extension, documents run as ever.
    let (_, _, reply) = post(&app, json!({"query": APP_CONFIG}), None, None).await;
    assert_eq!(reply["data"]["appConfig"]["version"], "2.1.0", "{reply}");
}
