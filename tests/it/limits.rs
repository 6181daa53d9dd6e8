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

/// Variables are read within `CAPCOM_MAX_INPUT_VALUES` JSON values per body (10 000 by default), counted
/// before any of the body is kept: a 1 MiB body of nested lists, each within the list cap, is refused at
/// once (400, BAD_USER_INPUT naming the bound; it used to cost ~135 MB), in a batch and over GET too, while
/// an honest body of the largest list an operation takes (1 000 environment variables, ~4 000 values)
/// is read and applied.
#[tokio::test]
async fn variables_are_read_within_a_count_of_json_values() {
    let app = TestApp::spawn().await;
    let url = format!("{}/v1", app.base);
    let (token, _) = app.sign_up("ada@example.com", "correct horse battery").await;
    let lists: Vec<serde_json::Value> =
        (0..1000).map(|_| json!((0..300).map(|_| json!([])).collect::<Vec<_>>())).collect();
    let body = json!({"query": "query($x: [[[Int]]]) { self { id } }", "variables": {"x": lists}});
    assert!(body.to_string().len() < 1_048_576, "within the body limit");
    for sent in [body.clone(), json!([body])] {
        let response = app.client.post(&url).header("Authorization", &token).json(&sent).send().await.unwrap();
        assert_eq!(response.status(), 400);
        let reply: serde_json::Value = response.json().await.unwrap();
        assert_eq!(error_code(&reply), "BAD_USER_INPUT", "{reply}");
        let message = reply["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains("more than 10000 JSON values (CAPCOM_MAX_INPUT_VALUES)"), "{message}");
    }
    let variables = json!({"x": vec![0; 10_001]}).to_string();
    let response = app
        .client
        .get(&url)
        .query(&[("query", "query($x: [Int]) { self { id } }"), ("variables", variables.as_str())])
        .header("Authorization", &token)
        .send()
        .await
        .unwrap();
    let reply: serde_json::Value = response.json().await.unwrap();
    assert_eq!(error_code(&reply), "BAD_USER_INPUT", "{reply}");

    let workspace = app.create_workspace(&token, "Data").await;
    let deployment = app.create_deployment(&token, &workspace, "etl").await["id"].as_str().unwrap().to_owned();
    let variables: Vec<serde_json::Value> =
        (0..1000).map(|n| json!({"key": format!("KEY_{n}"), "value": "v", "isSecret": false})).collect();
    let body = app
        .gql(
            "mutation($d: Uuid!, $v: [InputEnvironmentVariable!]!) { updateDeploymentVariables(deploymentUuid: $d, environmentVariables: $v) { key } }",
            json!({"d": deployment, "v": variables}),
            Some(&token),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"]["updateDeploymentVariables"].as_array().map(Vec::len), Some(1000));
}
