//! Password changes and resets over HTTP (SPEC §3): the current password is checked, tokens issued
//! before a change or reset stop working, a reset token works once and for one hour, the answer to a
//! reset request is the same for unknown addresses, requests are throttled, and accounts managed by an
//! identity provider say so.

use chrono::Duration;
use serde_json::{Value, json};

use crate::common::{TestApp, error_code, error_message};

const OLD: &str = "correct horse battery";
const NEW: &str = "staple battery horse";

async fn me(app: &TestApp, token: &str) -> Value {
    app.gql("{ self { username } }", json!({}), Some(token)).await
}

async fn credentials(app: &TestApp) -> String {
    app.text("SELECT string_agg(c.password_hash || u.tokens_valid_after::text, ',' ORDER BY u.id) AS t FROM users u LEFT JOIN local_credentials c ON c.user_id = u.id").await
}

fn reset_token(body: &str) -> String {
    let start = body.find("token=").map(|i| i + "token=".len()).expect("a link with a token");
    body[start..].split_whitespace().next().unwrap().to_owned()
}

async fn last_mail(app: &TestApp, admin: &str, recipient: &str) -> Option<String> {
    let outbox = app.gql("{ mailOutbox { recipient body } }", json!({}), Some(admin)).await;
    outbox["data"]["mailOutbox"]
        .as_array()
        .unwrap()
        .iter()
        .rfind(|m| m["recipient"] == recipient)
        .map(|m| m["body"].as_str().unwrap().to_owned())
}

async fn mails_to(app: &TestApp, recipient: &str) -> i64 {
    app.count(&format!("SELECT count(*) AS n FROM mail_outbox WHERE recipient = '{recipient}'")).await
}

const CHANGE: &str =
    "mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) { token { value } } }";
const REQUEST: &str = "mutation($e: String!) { requestPasswordReset(email: $e) }";
const RESET: &str = "mutation($t: String!, $p: String!) { resetPassword(token: $t, password: $p) }";

#[tokio::test]
async fn a_password_change_needs_the_current_one_and_revokes_older_tokens() {
    let app = TestApp::spawn_with(|config| config.public_signups = true).await;
    app.sign_up("root@example.com", OLD).await;
    let (token, _) = app.sign_up("ada@example.com", OLD).await;

    let before = (credentials(&app).await, app.count("SELECT count(*) AS n FROM audit_events").await);
    let wrong = app.gql(CHANGE, json!({"c": "not my password", "n": NEW}), Some(&token)).await;
    assert_eq!(error_code(&wrong), "BAD_USER_INPUT", "{wrong}");
    assert_eq!(wrong["errors"][0]["extensions"]["field"], "currentPassword");
    let short = app.gql(CHANGE, json!({"c": OLD, "n": "short"}), Some(&token)).await;
    assert_eq!(short["errors"][0]["extensions"]["field"], "newPassword", "{short}");
    assert_eq!(
        (credentials(&app).await, app.count("SELECT count(*) AS n FROM audit_events").await),
        before,
        "a refused change changes nothing"
    );
    assert!(me(&app, &token).await.get("errors").is_none(), "the token still works");

    let changed = app.gql(CHANGE, json!({"c": OLD, "n": NEW}), Some(&token)).await;
    let fresh = changed["data"]["changePassword"]["token"]["value"].as_str().unwrap_or_else(|| panic!("{changed}"));
    assert_eq!(error_code(&me(&app, &token).await), "UNAUTHENTICATED", "the old token stopped working");
    assert!(me(&app, fresh).await.get("errors").is_none(), "the answer's token keeps the caller signed in");
    assert_eq!(error_code(&app.sign_in("ada@example.com", OLD).await), "UNAUTHENTICATED");
    assert!(app.sign_in("ada@example.com", NEW).await.get("errors").is_none());
    let events = app.text("SELECT string_agg(action || coalesce(after::text, ''), ',') AS t FROM audit_events WHERE action LIKE 'user.password%'").await;
    assert_eq!(events, "user.password.change", "one event, no secret in it");
}

#[tokio::test]
async fn wrong_current_passwords_are_throttled_like_sign_ins() {
    let app = TestApp::spawn_with(|config| {
        config.public_signups = true;
        config.login_max_failures = 2;
    })
    .await;
    app.sign_up("root@example.com", OLD).await;
    let (token, _) = app.sign_up("ada@example.com", OLD).await;
    for _ in 0..2 {
        let wrong = app.gql(CHANGE, json!({"c": "guess guess", "n": NEW}), Some(&token)).await;
        assert_eq!(error_code(&wrong), "BAD_USER_INPUT");
    }
    let throttled = app.gql(CHANGE, json!({"c": OLD, "n": NEW}), Some(&token)).await;
    assert_eq!(error_code(&throttled), "UNAUTHENTICATED", "even the right password waits: {throttled}");
    assert!(error_message(&throttled).starts_with("Too many"));
}

#[tokio::test]
async fn a_reset_link_works_once_within_the_hour_and_revokes_every_token() {
    let app = TestApp::spawn_with(|config| config.public_signups = true).await;
    let (root, _) = app.sign_up("root@example.com", OLD).await;
    let (token, _) = app.sign_up("ada@example.com", OLD).await;

    let known = app.gql(REQUEST, json!({"e": "Ada@Example.com"}), None).await;
    let unknown = app.gql(REQUEST, json!({"e": "nobody@example.com"}), None).await;
    assert_eq!(known, unknown, "the same answer whether or not the address has an account");
    assert_eq!(known["data"]["requestPasswordReset"], true);
    assert_eq!(mails_to(&app, "nobody@example.com").await, 0);
    let mail = last_mail(&app, &root, "ada@example.com").await.expect("a reset mail");
    assert!(mail.contains("/console/#/reset-password?token=ccr_"), "{mail}");
    let reset = reset_token(&mail);
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM password_resets WHERE token_hash = sha256(convert_to('{reset}', 'UTF8'))"
        ))
        .await,
        1,
        "stored as its SHA-256 only"
    );

    let done = app.gql(RESET, json!({"t": reset, "p": NEW}), None).await;
    assert_eq!(done["data"]["resetPassword"], true, "{done}");
    assert_eq!(error_code(&me(&app, &token).await), "UNAUTHENTICATED", "every older token stopped working");
    assert!(app.sign_in("ada@example.com", NEW).await.get("errors").is_none());
    let again = app.gql(RESET, json!({"t": reset, "p": OLD}), None).await;
    assert_eq!(again["errors"][0]["extensions"]["field"], "token", "once only: {again}");

    // A second link, used after its hour.
    app.gql(REQUEST, json!({"e": "ada@example.com"}), None).await;
    let late = reset_token(&last_mail(&app, &root, "ada@example.com").await.unwrap());
    app.clock.advance(Duration::minutes(61));
    let expired = app.gql(RESET, json!({"t": late, "p": OLD}), None).await;
    assert_eq!(expired["errors"][0]["extensions"]["field"], "token", "expired: {expired}");
    assert!(app.sign_in("ada@example.com", NEW).await.get("errors").is_none(), "the password stayed");
}

#[tokio::test]
async fn reset_requests_are_throttled_per_address_with_the_same_answer() {
    let app = TestApp::spawn_with(|config| {
        config.public_signups = true;
        config.login_max_failures = 2;
    })
    .await;
    app.sign_up("root@example.com", OLD).await;
    app.sign_up("ada@example.com", OLD).await;
    for _ in 0..4 {
        let body = app.gql(REQUEST, json!({"e": "ada@example.com"}), None).await;
        assert_eq!(body["data"]["requestPasswordReset"], true);
    }
    assert_eq!(mails_to(&app, "ada@example.com").await, 2, "past the limit no mail goes out");
    app.clock.advance(Duration::minutes(16));
    app.gql(REQUEST, json!({"e": "ada@example.com"}), None).await;
    assert_eq!(mails_to(&app, "ada@example.com").await, 3, "a new window");
}

#[tokio::test]
async fn an_account_managed_by_scim_says_so_instead_of_resetting() {
    let app = TestApp::spawn_with(|config| config.public_signups = true).await;
    let (root, _) = app.sign_up("root@example.com", OLD).await;
    let (token, ada) = app.sign_up("ada@example.com", OLD).await;
    app.text(&format!(
        "WITH s AS (INSERT INTO scim_users (organization_id, user_id) SELECT id, '{ada}' FROM organizations WHERE is_default) SELECT NULL::text AS t"
    ))
    .await;
    let body = app.gql(REQUEST, json!({"e": "ada@example.com"}), None).await;
    assert_eq!(body["data"]["requestPasswordReset"], true);
    let mail = last_mail(&app, &root, "ada@example.com").await.unwrap();
    assert!(mail.contains("identity provider") && !mail.contains("token="), "{mail}");
    assert_eq!(app.count("SELECT count(*) AS n FROM password_resets").await, 0);
    let change = app.gql(CHANGE, json!({"c": OLD, "n": NEW}), Some(&token)).await;
    assert!(error_message(&change).contains("identity provider"), "{change}");
    let forced =
        app.gql("mutation($u: Uuid!) { forcePasswordReset(userUuid: $u) }", json!({"u": ada}), Some(&root)).await;
    assert!(error_message(&forced).contains("identity provider"), "{forced}");
}

#[tokio::test]
async fn a_system_admin_forces_a_reset() {
    let app = TestApp::spawn_with(|config| config.public_signups = true).await;
    let (root, _) = app.sign_up("root@example.com", OLD).await;
    let (token, ada) = app.sign_up("ada@example.com", OLD).await;
    let refused =
        app.gql("mutation($u: Uuid!) { forcePasswordReset(userUuid: $u) }", json!({"u": ada}), Some(&token)).await;
    assert_eq!(error_code(&refused), "FORBIDDEN");
    let forced =
        app.gql("mutation($u: Uuid!) { forcePasswordReset(userUuid: $u) }", json!({"u": ada}), Some(&root)).await;
    assert_eq!(forced["data"]["forcePasswordReset"], true, "{forced}");
    assert_eq!(error_code(&me(&app, &token).await), "UNAUTHENTICATED");
    assert_eq!(error_code(&app.sign_in("ada@example.com", OLD).await), "UNAUTHENTICATED", "the password is gone");
    let reset = reset_token(&last_mail(&app, &root, "ada@example.com").await.unwrap());
    let done = app.gql(RESET, json!({"t": reset, "p": NEW}), None).await;
    assert_eq!(done["data"]["resetPassword"], true, "{done}");
    assert!(app.sign_in("ada@example.com", NEW).await.get("errors").is_none());
}
