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
