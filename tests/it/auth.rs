//! Sign-up, sign-in, `self`, `updateSelf`, `logout`, throttling, the first-user rule.

use serde_json::json;

use crate::common::{TestApp, error_code, error_message};

const SELF_QUERY: &str = "{ self { id username fullName emails { address primary } roleBindings { role } } }";

#[tokio::test]
async fn sign_up_then_sign_in_then_self() {
    let app = TestApp::spawn().await;
    let (token, id) = app.sign_up("Ada@Example.com", "correct horse battery").await;

    let me = app.gql(SELF_QUERY, json!({}), Some(&token)).await;
    assert_eq!(me["data"]["self"]["id"], id.as_str());
    assert_eq!(me["data"]["self"]["emails"][0]["address"], "ada@example.com", "emails are lower-cased");
    let roles: Vec<&str> =
        me["data"]["self"]["roleBindings"].as_array().unwrap().iter().map(|b| b["role"].as_str().unwrap()).collect();
    assert!(roles.contains(&"SYSTEM_ADMIN"), "the first user is system admin: {roles:?}");
    assert!(roles.contains(&"ORGANIZATION_OWNER"), "and owns the default organization: {roles:?}");

    // Sign in by email (any case) and by username; both tokens work, with or without `Bearer`.
    for identity in ["ADA@example.com", "ada@example.com"] {
        let body = app.sign_in(identity, "correct horse battery").await;
        let token = body["data"]["createToken"]["token"]["value"].as_str().unwrap_or_else(|| panic!("{body}"));
        let bare = app.gql(SELF_QUERY, json!({}), Some(token)).await;
        assert_eq!(bare["data"]["self"]["id"], id.as_str());
        let bearer = app.gql(SELF_QUERY, json!({}), Some(&format!("Bearer {token}"))).await;
        assert_eq!(bearer["data"]["self"]["id"], id.as_str());
    }
    assert_eq!(app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'user.create'").await, 1);
    assert_eq!(app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'user.signIn'").await, 2);
}

#[tokio::test]
async fn self_needs_a_principal() {
    let app = TestApp::spawn().await;
    let body = app.gql(SELF_QUERY, json!({}), None).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED");
    assert_eq!(error_message(&body), "You are not signed in");
    assert!(body.get("errors").is_some_and(|e| !e.as_array().unwrap().is_empty()));

    // A stale token does not stop the fields that need none (the CLI signs in while holding one).
    let body = app.gql("{ appConfig { version } }", json!({}), Some("not-a-token")).await;
    assert_eq!(body["data"]["appConfig"]["version"], "2.1.0");
    assert!(body.get("errors").is_none(), "no `errors` key on success: {body}");
}

#[tokio::test]
async fn wrong_password_and_unknown_user_look_the_same() {
    let app = TestApp::spawn().await;
    app.sign_up("ada@example.com", "correct horse battery").await;
    let wrong_password = app.sign_in("ada@example.com", "wrong password!").await;
    let unknown_user = app.sign_in("nobody@example.com", "wrong password!").await;
    assert_eq!(error_code(&wrong_password), "UNAUTHENTICATED");
    assert_eq!(error_code(&unknown_user), "UNAUTHENTICATED");
    assert_eq!(error_message(&wrong_password), error_message(&unknown_user));
    assert!(wrong_password["data"].is_null() || wrong_password["data"]["createToken"].is_null());
}

#[tokio::test]
async fn repeated_failures_are_throttled_per_identity() {
    let app = TestApp::spawn_with(|config| config.login_max_failures = 3).await;
    app.sign_up("ada@example.com", "correct horse battery").await;
    for _ in 0..3 {
        let body = app.sign_in("ada@example.com", "wrong password!").await;
        assert_eq!(error_message(&body), "Invalid email, username or password");
    }
    // Now even the right password is refused for this identity…
    let body = app.sign_in("ada@example.com", "correct horse battery").await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED");
    assert!(error_message(&body).contains("Too many failed sign-in attempts"), "{body}");
    // …until the window has passed.
    app.clock.advance(chrono::Duration::seconds(app.state.config.login_window_secs + 1));
    let body = app.sign_in("ada@example.com", "correct horse battery").await;
    assert!(body["data"]["createToken"]["token"]["value"].is_string(), "{body}");
}

#[tokio::test]
async fn later_sign_ups_need_public_sign_ups_or_an_invite() {
    let app = TestApp::spawn().await;
    app.sign_up("first@example.com", "correct horse battery").await;
    let body = app
        .gql(
            "mutation { createUser(email: \"second@example.com\", password: \"correct horse\") { user { id } } }",
            json!({}),
            None,
        )
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    assert_eq!(body["errors"][0]["extensions"]["field"], "inviteToken");
    assert!(error_message(&body).contains("invite"), "{body}");
    assert_eq!(app.count("SELECT count(*) AS n FROM users").await, 1, "nothing was created");

    let body = app
        .gql(
            "mutation { createUser(email: \"second@example.com\", password: \"correct horse\", inviteToken: \"cci_forged\") { user { id } } }",
            json!({}),
            None,
        )
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "an unknown invite token is refused");
    assert_eq!(body["errors"][0]["extensions"]["field"], "inviteToken");
    assert_eq!(app.count("SELECT count(*) AS n FROM users").await, 1);
}

#[tokio::test]
async fn with_public_sign_ups_the_first_three_members_own_the_organization() {
    let app = TestApp::spawn_with(|config| config.public_signups = true).await;
    let auth = app.gql("{ authConfig { publicSignup initialSignup localEnabled } }", json!({}), None).await;
    assert_eq!(auth["data"]["authConfig"], json!({"publicSignup": true, "initialSignup": true, "localEnabled": true}));

    let mut roles = Vec::new();
    for n in 0..5 {
        let (token, _) = app.sign_up(&format!("user{n}@example.com"), "correct horse battery").await;
        let me = app.gql(SELF_QUERY, json!({}), Some(&token)).await;
        let mine: Vec<String> = me["data"]["self"]["roleBindings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["role"].as_str().unwrap().to_owned())
            .collect();
        roles.push(mine);
    }
    assert!(roles[0].contains(&"SYSTEM_ADMIN".to_owned()));
    for later in &roles[1..] {
        assert!(!later.contains(&"SYSTEM_ADMIN".to_owned()), "only the first user is system admin");
    }
    let owners = roles.iter().filter(|r| r.contains(&"ORGANIZATION_OWNER".to_owned())).count();
    let members = roles.iter().filter(|r| r.contains(&"ORGANIZATION_MEMBER".to_owned())).count();
    assert_eq!((owners, members), (3, 2));
    let auth = app.gql("{ authConfig { initialSignup } }", json!({}), None).await;
    assert_eq!(auth["data"]["authConfig"]["initialSignup"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_sign_ups_make_exactly_one_system_admin() {
    let app = TestApp::spawn_with(|config| config.public_signups = true).await;
    let attempts = 8;
    let mut tasks = Vec::new();
    for n in 0..attempts {
        let client = app.client.clone();
        let url = format!("{}/v1", app.base);
        tasks.push(tokio::spawn(async move {
            let body: serde_json::Value = client
                .post(url)
                .json(&json!({"query": format!(
                    "mutation {{ createUser(email: \"racer{n}@example.com\", password: \"correct horse\") {{ user {{ roleBindings {{ role }} }} }} }}"
                )}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            body
        }));
    }
    let mut admins = 0;
    for task in tasks {
        let body = task.await.unwrap();
        let bindings =
            body["data"]["createUser"]["user"]["roleBindings"].as_array().unwrap_or_else(|| panic!("{body}"));
        admins += bindings.iter().filter(|b| b["role"] == "SYSTEM_ADMIN").count();
    }
    assert_eq!(admins, 1, "exactly one of the concurrent first sign-ups is first");
    assert_eq!(app.count("SELECT count(*) AS n FROM role_bindings WHERE role = 'SYSTEM_ADMIN'").await, 1);
    assert_eq!(app.count("SELECT count(*) AS n FROM organizations").await, 1, "one default organization");
    assert_eq!(app.count("SELECT count(*) AS n FROM role_bindings WHERE role = 'ORGANIZATION_OWNER'").await, 3);
}

#[tokio::test]
async fn sign_up_input_is_validated_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let cases = [
        (json!({"email": "not-an-email", "password": "correct horse"}), "email"),
        (json!({"email": "ada@example.com", "password": "short"}), "password"),
        (json!({"email": "ada@example.com", "password": "correct horse", "username": "two words"}), "username"),
        (json!({"email": format!("{}@example.com", "a".repeat(400)), "password": "correct horse"}), "email"),
    ];
    for (variables, field) in cases {
        let body = app
            .gql(
                "mutation($email: String!, $password: String!, $username: String) { createUser(email: $email, password: $password, username: $username) { user { id } } }",
                variables.clone(),
                None,
            )
            .await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{variables}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
    }
    assert_eq!(app.count("SELECT count(*) AS n FROM users").await, 0);
    assert_eq!(app.count("SELECT count(*) AS n FROM audit_events").await, 0);

    app.sign_up("ada@example.com", "correct horse battery").await;
}

#[tokio::test]
async fn duplicate_email_is_a_conflict() {
    let app = TestApp::spawn_with(|config| config.public_signups = true).await;
    app.sign_up("ada@example.com", "correct horse battery").await;
    let body = app
        .gql(
            "mutation { createUser(email: \"ADA@example.com\", password: \"correct horse\") { user { id } } }",
            json!({}),
            None,
        )
        .await;
    assert_eq!(error_code(&body), "CONFLICT");
}

#[tokio::test]
async fn update_self_changes_the_profile_and_is_audited() {
    let app = TestApp::spawn().await;
    let (token, _) = app.sign_up("ada@example.com", "correct horse battery").await;
    let body = app
        .gql(
            "mutation($payload: JSON!) { updateSelf(payload: $payload) { username fullName } }",
            json!({"payload": {"fullName": "Ada Lovelace", "username": "ada"}}),
            Some(&token),
        )
        .await;
    assert_eq!(body["data"]["updateSelf"], json!({"username": "ada", "fullName": "Ada Lovelace"}));
    let body = app.sign_in("ada", "correct horse battery").await;
    assert!(body["data"]["createToken"]["token"]["value"].is_string(), "the new username signs in: {body}");

    let body = app
        .gql(
            "mutation($payload: JSON!) { updateSelf(payload: $payload) { username } }",
            json!({"payload": {"status": "banned"}}),
            Some(&token),
        )
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    assert_eq!(body["errors"][0]["extensions"]["field"], "payload.status");
    assert_eq!(app.count("SELECT count(*) AS n FROM users WHERE status = 'active'").await, 1);
    assert_eq!(app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'user.update'").await, 1);
}

#[tokio::test]
async fn logout_revokes_earlier_tokens_only() {
    let app = TestApp::spawn().await;
    let (token, _) = app.sign_up("ada@example.com", "correct horse battery").await;
    let body = app.gql("mutation { logout }", json!({}), Some(&token)).await;
    assert_eq!(body["data"]["logout"], true);

    let body = app.gql(SELF_QUERY, json!({}), Some(&token)).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED");
    assert_eq!(error_message(&body), "Your token has expired or is invalid. Please log in again.");

    // Signing in again at once (even within the same second) gives a working token.
    let body = app.sign_in("ada@example.com", "correct horse battery").await;
    let fresh = body["data"]["createToken"]["token"]["value"].as_str().unwrap();
    let body = app.gql(SELF_QUERY, json!({}), Some(fresh)).await;
    assert!(body["data"]["self"]["id"].is_string(), "{body}");
}

/// Concurrent guesses are counted too: of 20 wrong passwords sent at once, at most the limit get an
/// answer about the password; the others are throttled without checking it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_guesses_cannot_outrun_the_throttle() {
    let app = TestApp::spawn_with(|config| config.login_max_failures = 5).await;
    app.sign_up("ada@example.com", "correct horse battery").await;
    let guesses = (0..20).map(|n| {
        let app = &app;
        async move { app.sign_in("ada@example.com", &format!("wrong guess {n}")).await }
    });
    let answers = futures_util::future::join_all(guesses).await;
    let checked = answers.iter().filter(|b| error_message(b) == "Invalid email, username or password").count();
    let throttled = answers.iter().filter(|b| error_message(b).contains("Too many failed sign-in attempts")).count();
    assert_eq!(checked + throttled, 20, "{answers:?}");
    assert!(checked <= 5, "{checked} guesses were checked against the password; the limit is 5");
}

/// A failed sign-in runs the same statements whether the identity is someone's address, someone's username
/// or nobody's, so neither their count nor their time tells who exists (SPEC §3: an unknown identity is
/// refused as a wrong password is). A lookup by address and then by username took one statement more for
/// anything but an address.
#[tokio::test]
async fn a_failed_sign_in_runs_as_many_statements_for_an_address_a_username_and_nobody() {
    let app = TestApp::spawn_with(|config| config.login_max_failures_per_address = 100_000).await;
    let (ada, _) = app.sign_up("ada@example.com", "correct horse battery").await;
    let renamed =
        app.gql("mutation { updateSelf(payload: {username: \"ada\"}) { username } }", json!({}), Some(&ada)).await;
    assert_eq!(renamed["data"]["updateSelf"]["username"], "ada", "{renamed}");
    let statements = || app.state.statements.load(std::sync::atomic::Ordering::SeqCst);
    let mut spent = Vec::new();
    for identity in ["ada@example.com", "ADA", "nobody@example.com", "nobody"] {
        // The fewest of three: now and then an attempt also deletes expired failure counters, whoever it
        // names (`db::models::login_failure`, one attempt in 64).
        let mut fewest = u64::MAX;
        for _ in 0..3 {
            let before = statements();
            let body = app.sign_in(identity, "wrong password").await;
            assert_eq!(error_message(&body), "Invalid email, username or password", "{body}");
            fewest = fewest.min(statements() - before);
        }
        spent.push(fewest);
    }
    assert!(spent.iter().all(|&n| n == spent[0]), "statements per failed sign-in: {spent:?}");
    // Both names still sign ada in.
    for identity in ["ada@example.com", "Ada"] {
        let body = app.sign_in(identity, "correct horse battery").await;
        assert!(body["data"]["createToken"]["token"]["value"].is_string(), "{body}");
    }
}

/// `changePassword` checks the caller's own current password, whatever their username: it was looked up
/// by username, lowercased in Rust and compared with PostgreSQL's `lower`, which leaves non-ASCII letters
/// alone, so a user named `ÖZGÜR` was never found and could not change their password.
#[tokio::test]
async fn change_password_checks_the_callers_own_password_whatever_their_name() {
    let app = TestApp::spawn().await;
    let (token, _) = app.sign_up("ozgur@example.com", "correct horse battery").await;
    let renamed =
        app.gql("mutation { updateSelf(payload: {username: \"ÖZGÜR\"}) { username } }", json!({}), Some(&token)).await;
    assert_eq!(renamed["data"]["updateSelf"]["username"], "ÖZGÜR", "{renamed}");
    let wrong = app
        .gql(
            "mutation { changePassword(currentPassword: \"not the password\", newPassword: \"another horse battery\") { user { id } } }",
            json!({}),
            Some(&token),
        )
        .await;
    assert_eq!(error_code(&wrong), "BAD_USER_INPUT", "{wrong}");
    assert_eq!(wrong["errors"][0]["extensions"]["field"], "currentPassword", "{wrong}");
    let changed = app
        .gql(
            "mutation { changePassword(currentPassword: \"correct horse battery\", newPassword: \"another horse battery\") { user { id } } }",
            json!({}),
            Some(&token),
        )
        .await;
    assert!(changed.get("errors").is_none(), "{changed}");
    let body = app.sign_in("ozgur@example.com", "another horse battery").await;
    assert!(body["data"]["createToken"]["token"]["value"].is_string(), "{body}");
}

/// A username that looks like an address must be one of the user's own: nobody can name themselves after
/// someone else's address, and an address always signs in its owner.
#[tokio::test]
async fn usernames_cannot_take_other_peoples_addresses() {
    let app = TestApp::spawn_with(|config| config.public_signups = true).await;
    let (mallory, _) = app.sign_up("mallory@example.com", "correct horse battery").await;
    let taken = app
        .gql(
            "mutation { updateSelf(payload: {username: \"newhire@example.com\"}) { username } }",
            json!({}),
            Some(&mallory),
        )
        .await;
    assert_eq!(error_code(&taken), "BAD_USER_INPUT", "{taken}");
    assert_eq!(taken["errors"][0]["extensions"]["field"], "payload.username");
    let signed_up = app
        .gql(
            "mutation { createUser(email: \"eve@example.com\", password: \"correct horse battery\", username: \"newhire@example.com\") { user { id } } }",
            json!({}),
            None,
        )
        .await;
    assert_eq!(error_code(&signed_up), "BAD_USER_INPUT", "{signed_up}");
    // The newcomer signs up with their address as username and signs in with it.
    app.sign_up("newhire@example.com", "another horse battery").await;
    let body = app.sign_in("newhire@example.com", "another horse battery").await;
    assert!(body["data"]["createToken"]["token"]["value"].is_string(), "{body}");
    // Renaming oneself to one's own address, or to a plain name, is fine.
    let own =
        app.gql("mutation { updateSelf(payload: {username: \"mal\"}) { username } }", json!({}), Some(&mallory)).await;
    assert_eq!(own["data"]["updateSelf"]["username"], "mal", "{own}");
}
