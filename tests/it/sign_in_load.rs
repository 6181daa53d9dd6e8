//! Sign-in under load: failures are throttled per client address as well as per identity, and password
//! hashing waits for a turn for a bounded time.

use serde_json::json;

use crate::common::{TestApp, error_code, error_message};

const SIGN_IN: &str = "mutation($identity: String, $password: String!) { createToken(identity: $identity, password: $password) { token { value } } }";

#[tokio::test]
async fn failures_with_ever_new_identities_are_throttled_per_address() {
    let app = TestApp::spawn_with(|config| config.login_max_failures_per_address = 3).await;
    app.sign_up("ada@example.com", "correct horse battery").await;
    for n in 0..3 {
        let body =
            app.gql(SIGN_IN, json!({"identity": format!("nobody{n}@example.com"), "password": "wrong!"}), None).await;
        assert_eq!(error_message(&body), "Invalid email, username or password", "{body}");
    }
    // From this address, even the right password waits for the window to pass.
    let body =
        app.gql(SIGN_IN, json!({"identity": "ada@example.com", "password": "correct horse battery"}), None).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED");
    assert!(error_message(&body).starts_with("Too many failed sign-in attempts"), "{body}");
}

#[tokio::test]
async fn sign_ins_that_cannot_get_a_hashing_turn_in_time_are_unavailable_not_queued_for_ever() {
    let app = TestApp::spawn_with(|config| {
        config.password_hashing_concurrency = Some(1);
        config.password_hashing_wait_ms = 1;
    })
    .await;
    let attempts = (0..8).map(|n| {
        app.gql(SIGN_IN, json!({"identity": format!("nobody{n}@example.com"), "password": "wrong password"}), None)
    });
    let codes: Vec<String> =
        futures_util::future::join_all(attempts).await.iter().map(|body| error_code(body).to_owned()).collect();
    assert!(codes.iter().all(|code| code == "UNAUTHENTICATED" || code == "UNAVAILABLE"), "{codes:?}");
    assert!(codes.iter().any(|code| code == "UNAVAILABLE"), "one hash at a time, no waiting: {codes:?}");
    assert!(codes.iter().any(|code| code == "UNAUTHENTICATED"), "{codes:?}");
}

#[tokio::test]
async fn a_sign_up_that_will_be_refused_costs_no_password_hash() {
    let app = TestApp::spawn_with(|config| {
        config.password_hashing_concurrency = Some(1);
        config.password_hashing_wait_ms = 0;
    })
    .await;
    app.sign_up("root@example.com", "correct horse battery").await;
    let sign_up =
        "mutation($e: String!) { createUser(email: $e, password: \"correct horse battery\") { token { value } } }";
    let attempts = (0..8).map(|n| app.gql(sign_up, json!({"e": format!("new{n}@example.com")}), None));
    for body in futures_util::future::join_all(attempts).await {
        // Never UNAVAILABLE: no hash was attempted.
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], "inviteToken");
    }
}
