//! Request limits: aliases, batches, body size, errors shape.

use serde_json::json;

use crate::common::{TestApp, error_code};

#[tokio::test]
async fn too_many_aliases_of_one_field_are_refused() {
    let app = TestApp::spawn().await;
    let fields: Vec<String> = (0..21).map(|n| format!("a{n}: appConfig {{ version }}")).collect();
    let body = app.gql(&format!("{{ {} }}", fields.join(" ")), json!({}), None).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    let fields: Vec<String> = (0..20).map(|n| format!("a{n}: appConfig {{ version }}")).collect();
    let body = app.gql(&format!("{{ {} }}", fields.join(" ")), json!({}), None).await;
    assert!(body.get("errors").is_none(), "20 aliases are allowed: {body}");
}

#[tokio::test]
async fn batches_are_capped_and_bodies_limited() {
    let app = TestApp::spawn().await;
    let url = format!("{}/v1", app.base);
    let ten: Vec<_> = (0..10).map(|_| json!({"query": "{ appConfig { version } }"})).collect();
    let body: serde_json::Value = app.client.post(&url).json(&ten).send().await.unwrap().json().await.unwrap();
    assert_eq!(body.as_array().map(Vec::len), Some(10), "{body}");
    let eleven: Vec<_> = (0..11).map(|_| json!({"query": "{ appConfig { version } }"})).collect();
    let body: serde_json::Value = app.client.post(&url).json(&eleven).send().await.unwrap().json().await.unwrap();
    assert_eq!(error_code(&body), "BAD_USER_INPUT");

    let huge = json!({"query": format!("{{ appConfig {{ version }} }} #{}", "x".repeat(1_100_000))});
    let response = app.client.post(&url).json(&huge).send().await.unwrap();
    assert_eq!(response.status(), 413);
}

#[tokio::test]
async fn unknown_fields_read_like_graphql_js_and_are_bad_input() {
    let app = TestApp::spawn().await;
    let body = app.gql("{ appConfig { nope } }", json!({}), None).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    assert!(body["errors"][0]["message"].as_str().unwrap().starts_with("Cannot query field \"nope\""), "{body}");
}

#[tokio::test]
async fn mutations_are_refused_over_get() {
    let app = TestApp::spawn().await;
    let response =
        app.client.get(format!("{}/v1", app.base)).query(&[("query", "mutation { logout }")]).send().await.unwrap();
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    let response = app
        .client
        .get(format!("{}/v1", app.base))
        .query(&[("query", "{ appConfig { version } }")])
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["data"]["appConfig"]["version"], "2.1.0");
}
