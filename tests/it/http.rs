//! GraphQL over HTTP: content negotiation and status codes (the GraphQL-over-HTTP specification, as the
//! graphql-http audits check it), with the astro CLI's rule kept: `application/json` gets HTTP 200 for
//! every GraphQL error.

use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde_json::{Value, json};

use crate::common::{TestApp, error_code};

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

async fn post(app: &TestApp, accept: Option<&str>, body: Value) -> (u16, String, Value) {
    let mut request = app.client.post(format!("{}/v1", app.base)).json(&body);
    if let Some(accept) = accept {
        request = request.header(ACCEPT, accept);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response.headers().get(CONTENT_TYPE).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, content_type, body)
}

#[tokio::test]
async fn json_is_the_default_and_graphql_response_json_is_given_only_when_asked() {
    let app = TestApp::spawn().await;
    let query = json!({"query": "{ __typename }"});
    for accept in [None, Some("application/json"), Some("*/*"), Some("application/*"), Some("text/html, */*;q=0.8")] {
        let (status, content_type, body) = post(&app, accept, query.clone()).await;
        assert_eq!(status, 200, "{accept:?}");
        assert!(content_type.starts_with("application/json"), "{accept:?}: {content_type}");
        assert!(content_type.contains("charset=utf-8"));
        assert!(body.get("errors").is_none(), "no errors entry on success, not even []: {body}");
    }
    for accept in [
        GRAPHQL_RESPONSE,
        "application/graphql-response+json, application/json",
        "application/json;q=0.5, application/graphql-response+json",
    ] {
        let (status, content_type, _) = post(&app, Some(accept), query.clone()).await;
        assert_eq!(status, 200);
        assert!(content_type.starts_with(GRAPHQL_RESPONSE), "{accept}: {content_type}");
    }
    let (_, content_type, _) =
        post(&app, Some("application/graphql-response+json;q=0.2, application/json"), query.clone()).await;
    assert!(content_type.starts_with("application/json"), "{content_type}");
    let (status, _, _) = post(&app, Some("text/plain"), query.clone()).await;
    assert_eq!(status, 406);
}

#[tokio::test]
async fn request_errors_are_200_with_json_and_4xx_without_data_with_graphql_response_json() {
    let app = TestApp::spawn().await;
    let cases = [
        json!({"query": "{"}),
        json!({"query": "{ nope }"}),
        json!({"query": "query($id: ID!) { __typename }", "variables": {"id": null}}),
        json!({"query": "query($id: ID!) { __typename }"}),
    ];
    for body in cases {
        let (status, content_type, reply) = post(&app, Some("application/json"), body.clone()).await;
        assert_eq!(status, 200, "the astro CLI reads GraphQL errors from HTTP 200: {body} -> {reply}");
        assert!(content_type.starts_with("application/json"));
        assert_eq!(error_code(&reply), "BAD_USER_INPUT");
        assert!(reply.get("data").is_none(), "a request error has no data entry: {reply}");

        let (status, content_type, reply) = post(&app, Some(GRAPHQL_RESPONSE), body.clone()).await;
        assert_eq!(status, 400, "{body} -> {reply}");
        assert!(content_type.starts_with(GRAPHQL_RESPONSE));
        assert!(reply.get("data").is_none(), "{reply}");
        assert!(reply["errors"][0]["message"].is_string());
    }
    // A field error is not a request error: data is there, and the status is 200 in both media types.
    let (status, _, reply) = post(&app, Some(GRAPHQL_RESPONSE), json!({"query": "{ self { id } }"})).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(error_code(&reply), "UNAUTHENTICATED");
    assert!(reply.get("data").is_some(), "{reply}");
}

#[tokio::test]
async fn malformed_bodies_and_media_types_get_4xx() {
    let app = TestApp::spawn().await;
    let url = format!("{}/v1", app.base);
    let raw = |content_type: Option<&'static str>, body: &'static str| {
        let mut request = app.client.post(&url).body(body);
        if let Some(content_type) = content_type {
            request = request.header(CONTENT_TYPE, content_type);
        }
        request.send()
    };
    assert_eq!(raw(None, r#"{"query":"{ __typename }"}"#).await.unwrap().status(), 415);
    assert_eq!(raw(Some("text/plain"), r#"{"query":"{ __typename }"}"#).await.unwrap().status(), 415);
    assert_eq!(
        raw(Some("application/json; charset=utf-8"), r#"{"query":"{ __typename }"}"#).await.unwrap().status(),
        200
    );
    assert_eq!(raw(Some("application/json"), r#"{ "not a JSON"#).await.unwrap().status(), 400);
    assert_eq!(raw(Some("application/json"), "").await.unwrap().status(), 400);
    for body in [
        r#"{"qeury":"{ __typename }"}"#,
        r#"{"query":0}"#,
        r#"{"query":"{ __typename }","variables":[7]}"#,
        r#"{"query":"{ __typename }","operationName":false}"#,
        r#"{"query":"{ __typename }","extensions":"x"}"#,
    ] {
        assert_eq!(raw(Some("application/json"), body).await.unwrap().status(), 400, "{body}");
    }
    // null for the optional parameters is allowed.
    let (status, _, reply) = post(
        &app,
        None,
        json!({"query": "{ __typename }", "variables": null, "operationName": null, "extensions": null}),
    )
    .await;
    assert_eq!(status, 200);
    assert!(reply.get("errors").is_none(), "{reply}");
}

#[tokio::test]
async fn mutations_over_get_are_405_with_allow_post_and_queries_run() {
    let app = TestApp::spawn().await;
    let url = format!("{}/v1", app.base);
    for accept in ["application/json", GRAPHQL_RESPONSE] {
        let response = app
            .client
            .get(&url)
            .header(ACCEPT, accept)
            .query(&[("query", "mutation { logout }")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405, "{accept}");
        assert_eq!(response.headers()["allow"], "POST");
    }
    // A document holding a mutation, but selecting its query operation, runs.
    let response = app
        .client
        .get(&url)
        .query(&[("query", "query Q { appConfig { version } } mutation M { logout }"), ("operationName", "Q")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["appConfig"]["version"], "2.1.0", "{body}");
}

/// The keys of every object of a reply come in the order the query asked for them (GraphQL spec §7.1.2),
/// also when some fields waited for the database and others did not, and through fragments and aliases.
#[tokio::test]
async fn reply_fields_come_in_query_order() {
    let app = TestApp::spawn().await;
    let (token, _) = app.sign_up("order@example.com", "correct horse battery").await;
    let workspace = app.create_workspace(&token, "Ordered").await;
    app.create_deployment(&token, &workspace, "first").await;
    let query = "query { workspaces { deployments { label id } ...Members id label: label } \
                 config: appConfig { version } } \
                 fragment Members on Workspace { users { emails { address } username id } }";
    let response = app
        .client
        .post(format!("{}/v1", app.base))
        .header("Authorization", &token)
        .json(&json!({"query": query}))
        .send()
        .await
        .unwrap();
    let text = response.text().await.unwrap();
    let position = |needle: &str| text.find(needle).unwrap_or_else(|| panic!("{needle} missing from {text}"));
    let expected = [
        "\"workspaces\"",
        "\"deployments\"",
        "\"label\":\"first\"",
        "\"users\"",
        "\"emails\"",
        "\"username\"",
        "\"label\":\"Ordered\"",
        "\"config\"",
    ];
    let positions: Vec<usize> = expected.iter().map(|needle| position(needle)).collect();
    assert!(positions.is_sorted(), "keys out of query order: {text}");
    assert!(text.starts_with("{\"data\""), "{text}");
    // A reply with errors names them first, then the data.
    let (_, _, body) = post(&app, None, json!({"query": "{ appConfig { version } workspace(workspaceUuid: \"00000000-0000-0000-0000-000000000000\") { id } }"})).await;
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["errors", "data"], "{body}");
}

/// Executions beyond `CAPCOM_GRAPHQL_CONCURRENCY` wait for a turn and are then served: a turn is given
/// back by every request, answered or refused.
#[tokio::test]
async fn requests_beyond_the_execution_bound_wait_for_a_turn() {
    let app = TestApp::spawn_with(|config| config.graphql_concurrency = Some(1)).await;
    let (token, _) = app.sign_up("turns@example.com", "correct horse battery").await;
    let requests = (0..12).map(|i| {
        let app = &app;
        let token = token.clone();
        async move {
            if i % 3 == 0 {
                // Answered with an error (the first user is a system admin: NOT_FOUND): the turn comes back
                // all the same.
                app.gql(
                    "{ workspaceUsers(workspaceUuid: \"00000000-0000-0000-0000-000000000000\") { id } }",
                    json!({}),
                    Some(&token),
                )
                .await
            } else {
                app.gql("{ self { username } workspaces { id } }", json!({}), Some(&token)).await
            }
        }
    });
    let bodies = futures_util::future::join_all(requests).await;
    for (i, body) in bodies.iter().enumerate() {
        if i % 3 == 0 {
            assert_eq!(error_code(body), "NOT_FOUND", "{body}");
        } else {
            assert_eq!(body["data"]["self"]["username"], "turns@example.com", "{body}");
        }
    }
    let after = app.gql("{ appConfig { version } }", json!({}), None).await;
    assert_eq!(after["data"]["appConfig"]["version"], "2.1.0", "{after}");
}

/// Variables the request leaves out take their defaults (for `@skip`/`@include` too), and a required one
/// left out is a request error naming it, with nothing executed (spec §6.1.2 CoerceVariableValues).
#[tokio::test]
async fn missing_variables_take_defaults_or_refuse_the_request() {
    let app = TestApp::spawn().await;
    let (token, _) = app.sign_up("vars@example.com", "correct horse battery").await;
    let included = "query($s: Boolean = true) { self { id status @include(if: $s) } }";
    let body = app.gql(included, json!({}), Some(&token)).await;
    assert_eq!(body["data"]["self"]["status"], "active", "{body}");
    let skipped = "query($s: Boolean = true) { self { id status @skip(if: $s) } }";
    let body = app.gql(skipped, json!({}), Some(&token)).await;
    assert!(body["data"]["self"].get("status").is_none(), "{body}");
    let workspaces_before = app.count("SELECT count(*) AS n FROM workspaces").await;
    let required = "mutation($label: String!) { createWorkspace(label: $label) { id } }";
    let body = app.gql(required, json!({}), Some(&token)).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], "label", "{body}");
    assert!(body.get("data").is_none(), "a request error has no data: {body}");
    assert_eq!(app.count("SELECT count(*) AS n FROM workspaces").await, workspaces_before, "nothing was created");
}
