//! A request's cost is bounded by what it returns, and dear work comes after cheap checks (SPEC §7):
//! at most one password hash per request, however many aliases or batched operations ask for one.

use serde_json::{Value, json};

use crate::common::{TestApp, error_code};

/// `capcom_password_hashes_total` as `/metrics` shows it.
async fn hashes(app: &TestApp) -> u64 {
    let text = app.client.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    let line = text
        .lines()
        .find(|line| line.starts_with("capcom_password_hashes_total "))
        .unwrap_or_else(|| panic!("no capcom_password_hashes_total in:\n{text}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

/// Posts `body` (one operation or a batch) and returns the parsed reply.
async fn post(app: &TestApp, body: &Value) -> Value {
    let response = app.client.post(format!("{}/v1", app.base)).json(body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// A document of `aliases` aliased `createUser`s, each for its own address in `batch`.
fn sign_ups(batch: usize, aliases: usize, invite_token: Option<&str>) -> String {
    let token = invite_token.map(|token| format!(", inviteToken: \"{token}\"")).unwrap_or_default();
    let fields: Vec<String> = (0..aliases)
        .map(|n| {
            format!(
                "a{n}: createUser(email: \"b{batch}-a{n}@example.com\", password: \"correct horse battery\"{token}) {{ user {{ id }} }}"
            )
        })
        .collect();
    format!("mutation {{ {} }}", fields.join(" "))
}

/// Every error of every operation of a batch reply.
fn errors(reply: &Value) -> Vec<&Value> {
    reply.as_array().unwrap().iter().flat_map(|item| item["errors"].as_array().unwrap().iter()).collect()
}

#[tokio::test]
async fn garbage_invite_tokens_in_aliases_and_batches_cost_no_password_hash() {
    let app = TestApp::spawn_with(|config| config.login_max_failures_per_address = 100_000).await;
    app.sign_up("root@example.com", "correct horse battery").await;
    let before = hashes(&app).await;
    let batch: Vec<Value> = (0..10).map(|b| json!({"query": sign_ups(b, 20, Some("garbage"))})).collect();
    let started = std::time::Instant::now();
    let reply = post(&app, &Value::Array(batch)).await;
    let elapsed = started.elapsed();
    let errors = errors(&reply);
    assert_eq!(errors.len(), 200, "{reply}");
    for error in errors {
        assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{error}");
        assert_eq!(error["extensions"]["field"], "inviteToken", "{error}");
    }
    assert_eq!(hashes(&app).await, before, "an invite token that matches nothing is refused before hashing");
    assert_eq!(app.count("SELECT count(*) AS n FROM users").await, 1);
    // Informative only (no timing assertion): 200 hashes took tens of seconds in a debug build.
    eprintln!("200 refused sign-ups answered in {elapsed:?}");
}

#[tokio::test]
async fn a_request_causes_at_most_one_password_hash() {
    let app = TestApp::spawn_with(|config| {
        config.public_signups = true;
        config.login_max_failures_per_address = 100_000;
    })
    .await;
    app.sign_up("root@example.com", "correct horse battery").await;

    // Sign-ups: 10 operations of 20 aliases, each for a new address.
    let before = hashes(&app).await;
    let batch: Vec<Value> = (0..10).map(|b| json!({"query": sign_ups(b, 20, None)})).collect();
    let reply = post(&app, &Value::Array(batch)).await;
    assert_eq!(hashes(&app).await, before + 1, "one hash for the whole request");
    let created = reply
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|item| item["data"].as_object().into_iter().flat_map(|data| data.values()))
        .filter(|value| value["user"]["id"].is_string())
        .count();
    assert_eq!(created, 1, "{reply}");
    let refused = errors(&reply);
    assert_eq!(refused.len(), 199);
    for error in refused {
        assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{error}");
        assert_eq!(error["extensions"]["field"], "password", "{error}");
        assert!(error["message"].as_str().unwrap().starts_with("Only one password may be checked per request"));
    }
    assert_eq!(app.count("SELECT count(*) AS n FROM users").await, 2);

    // Sign-ins: the same, with wrong passwords for the root account.
    let before = hashes(&app).await;
    let sign_ins: Vec<String> = (0..20)
        .map(|n| {
            format!(
                "a{n}: createToken(identity: \"root@example.com\", password: \"wrong {n}\") {{ token {{ value }} }}"
            )
        })
        .collect();
    let document = format!("mutation {{ {} }}", sign_ins.join(" "));
    let batch: Vec<Value> = (0..10).map(|_| json!({"query": document})).collect();
    let reply = post(&app, &Value::Array(batch)).await;
    assert_eq!(hashes(&app).await, before + 1, "{reply}");
    for error in errors(&reply) {
        assert!(["UNAUTHENTICATED", "BAD_USER_INPUT"].contains(&error["extensions"]["code"].as_str().unwrap()));
    }

    // One sign-up or sign-in per request still works, with or without an invite.
    let before = hashes(&app).await;
    app.sign_up("grace@example.com", "correct horse battery").await;
    let body = app.sign_in("grace@example.com", "correct horse battery").await;
    assert!(body["data"]["createToken"]["token"]["value"].is_string(), "{body}");
    assert_eq!(hashes(&app).await, before + 2);
}

#[tokio::test]
async fn an_invited_sign_up_still_works_and_failed_sign_ups_are_throttled_per_address() {
    let app = TestApp::spawn_with(|config| config.login_max_failures_per_address = 5).await;
    let (root, _) = app.sign_up("root@example.com", "correct horse battery").await;
    let workspace = app.create_workspace(&root, "Invited").await;
    app.add_to_workspace(&root, &workspace, "grace@example.com", "WORKSPACE_EDITOR").await;
    let outbox = app.gql("{ mailOutbox { recipient body } }", json!({}), Some(&root)).await;
    let mail = outbox["data"]["mailOutbox"][0]["body"].as_str().unwrap();
    let token = mail.split_whitespace().find(|w| w.starts_with("cci_")).expect("token in the mail").to_owned();

    let before = hashes(&app).await;
    let body = app
        .gql(
            "mutation($t: String!) { createUser(email: \"grace@example.com\", password: \"correct horse\", inviteToken: $t) { token { value } } }",
            json!({"t": token}),
            None,
        )
        .await;
    assert!(body["data"]["createUser"]["token"]["value"].is_string(), "{body}");
    assert_eq!(hashes(&app).await, before + 1);

    // Five refused sign-ups from this address; the sixth is refused before its token is even looked at.
    let before = hashes(&app).await;
    for n in 0..5 {
        let reply = post(&app, &json!({"query": sign_ups(n, 1, Some("garbage"))})).await;
        assert_eq!(reply["errors"][0]["extensions"]["field"], "inviteToken", "{reply}");
    }
    let reply = post(&app, &json!({"query": sign_ups(9, 1, Some("garbage"))})).await;
    assert_eq!(error_code(&reply), "BAD_USER_INPUT");
    assert_eq!(reply["errors"][0]["extensions"]["field"], "email", "{reply}");
    assert!(reply["errors"][0]["message"].as_str().unwrap().starts_with("Too many failed"), "{reply}");
    assert_eq!(hashes(&app).await, before);
}
