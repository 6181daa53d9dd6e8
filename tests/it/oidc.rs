//! OpenID Connect sign-in against a real provider on loopback (tests/it/common/oidc.rs: real HTTP, RS256
//! ID tokens, a JWKS), walked without a browser: start → provider → callback → one-time code → token.
//! Each refusal (tampered state, replayed callback, replayed code, wrong audience, expired token, wrong
//! nonce, unverified address, address outside the organization's domains, account disabled at the
//! provider or in capcom, another browser) is clear and creates nothing.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::oidc::{Person, Provider, Tweaks};
use crate::common::{TestApp, captured_logs, error_code};
use crate::domains::claim_and_verify;

const SECRET: &str = "s3cret-value-that-must-never-leak-7f3a";

struct World {
    app: TestApp,
    provider: Provider,
    root: String,
    acme: String,
    browser: reqwest::Client,
    _secrets: tempfile::TempDir,
}

/// capcom with an organization "Acme" that verified acme.test, a team "Data", and a provider "acme" whose
/// client secret is the file named after it in the secrets folder.
async fn world() -> World {
    let secrets = tempfile::tempdir().unwrap();
    let dir = secrets.path().to_owned();
    let app = TestApp::spawn_with(move |config| {
        config.public_signups = true;
        config.oidc_allow_http = true;
        config.oidc_secrets_dir = Some(dir);
        config.public_url = "http://console.example.test/app".into();
    })
    .await;
    let provider = Provider::start("capcom-client", SECRET).await;
    let (root, _) = app.sign_up("root@example.com", "correct horse battery").await;
    let created = app.gql("mutation { createOrganization(name: \"Acme\") { id } }", json!({}), Some(&root)).await;
    let acme = created["data"]["createOrganization"]["id"].as_str().unwrap().to_owned();
    claim_and_verify(&app, &root, &acme, "acme.test").await;
    // The operator stores the client secret under Acme's id and the provider's name.
    std::fs::create_dir_all(secrets.path().join(&acme)).unwrap();
    std::fs::write(secrets.path().join(&acme).join("acme"), format!("{SECRET}\n")).unwrap();
    let team = app
        .gql(
            "mutation($o: Uuid!) { createTeam(organizationUuid: $o, name: \"Data\") { id } }",
            json!({"o": acme}),
            Some(&root),
        )
        .await;
    assert!(team["data"]["createTeam"]["id"].is_string(), "{team}");
    let body = app
        .gql(
            "mutation($o: Uuid!, $i: IdentityProviderInput!) { createIdentityProvider(organizationUuid: $o, input: $i) { id name clientSecretSource scopes } }",
            json!({"o": acme, "i": {
                "name": "acme", "displayName": "Acme SSO", "issuerUrl": provider.issuer, "clientId": "capcom-client",
                "scopes": ["email", "profile", "groups"],
                "groupsClaim": "groups",
            }}),
            Some(&root),
        )
        .await;
    let created = &body["data"]["createIdentityProvider"];
    assert_eq!(created["scopes"], json!(["openid", "email", "profile", "groups"]), "{body}");
    assert_eq!(created["clientSecretSource"], format!("file:{acme}/acme"), "{body}");
    let browser = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    World { app, provider, root, acme, browser, _secrets: secrets }
}

fn location(response: &reqwest::Response) -> String {
    response.headers()[reqwest::header::LOCATION].to_str().unwrap().to_owned()
}

fn parameter(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url).unwrap().query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// What the browser holds after the provider sent it back: the callback URL and capcom's flow cookie.
struct AtCallback {
    callback: String,
    cookie: String,
}

async fn to_callback(world: &World) -> AtCallback {
    let start = world.browser.get(format!("{}/v1/oauth/start?provider=acme", world.app.base)).send().await.unwrap();
    assert_eq!(start.status(), StatusCode::SEE_OTHER, "{:?}", start.text().await);
    let cookie = start.headers()[reqwest::header::SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_owned();
    let at_provider = location(&start);
    assert!(at_provider.starts_with(&format!("{}/authorize?", world.provider.issuer)), "{at_provider}");
    let back = world.browser.get(&at_provider).send().await.unwrap();
    assert_eq!(back.status(), StatusCode::FOUND);
    AtCallback { callback: location(&back), cookie }
}

async fn finish(world: &World, at: &AtCallback) -> reqwest::Response {
    world.browser.get(&at.callback).header(reqwest::header::COOKIE, &at.cookie).send().await.unwrap()
}

/// The whole walk; the console address capcom returns to.
async fn walk(world: &World) -> String {
    let at = to_callback(world).await;
    let done = finish(world, &at).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    location(&done)
}

async fn exchange(app: &TestApp, code: &str) -> Value {
    app.gql(
        "mutation($c: String!) { exchangeSignInCode(code: $c) { user { id username } token { value } } }",
        json!({"c": code}),
        None,
    )
    .await
}

async fn teams(app: &TestApp, user: String) -> String {
    app.text(&format!(
        "SELECT coalesce(string_agg(t.name, ','), '') AS t FROM team_members m JOIN teams t ON t.id = m.team_id WHERE m.user_id = '{user}'"
    ))
    .await
}

async fn counts(app: &TestApp) -> (i64, i64, i64) {
    (
        app.count("SELECT count(*) AS n FROM users").await,
        app.count("SELECT count(*) AS n FROM external_identities").await,
        app.count("SELECT count(*) AS n FROM sign_in_codes").await,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_through_the_provider_creates_a_member_with_teams_from_groups() {
    let world = world().await;
    let app = &world.app;
    let config = app.gql("{ authConfig { providers { name displayName url } } }", json!({}), None).await;
    assert_eq!(
        config["data"]["authConfig"]["providers"],
        json!([{"name": "acme", "displayName": "Acme SSO", "url": "/v1/oauth/start?provider=acme"}])
    );

    let mut alice = Person::new("sub-alice", "Alice@Acme.test");
    alice.groups = vec!["data".into(), "nobody-has-this-group".into()];
    world.provider.sign_in_as(alice.clone());
    let back = walk(&world).await;
    assert!(back.starts_with("http://console.example.test/app?"), "{back}");
    assert_eq!(parameter(&back, "signInError"), None, "{back}");
    let code = parameter(&back, "signInCode").unwrap();

    // What capcom sent the provider: state, nonce, an S256 challenge, and later the verifier.
    let asked = world.provider.last_authorization();
    assert_eq!(asked["code_challenge_method"], "S256");
    assert!(asked["state"].len() >= 16 && asked["nonce"].len() >= 16 && asked["code_challenge"].len() >= 43);
    assert_eq!(asked["scope"], "openid email profile groups");
    assert!(world.provider.last_token_request()["code_verifier"].len() >= 43);

    // The code gives a token once.
    let signed_in = exchange(app, &code).await;
    let token = signed_in["data"]["exchangeSignInCode"]["token"]["value"].as_str().unwrap().to_owned();
    assert_eq!(signed_in["data"]["exchangeSignInCode"]["user"]["username"], "alice@acme.test");
    assert_eq!(error_code(&exchange(app, &code).await), "UNAUTHENTICATED");
    let me = app.gql("{ self { id } }", json!({}), Some(&token)).await;
    let alice_id = me["data"]["self"]["id"].as_str().unwrap().to_owned();

    // A member of Acme (not an owner), with a verified address, no password, in team Data.
    let acme = &world.acme;
    assert_eq!(
        app.text(&format!(
            "SELECT role AS t FROM role_bindings WHERE user_id = '{alice_id}' AND organization_id = '{acme}'"
        ))
        .await,
        "ORGANIZATION_MEMBER"
    );
    assert_eq!(
        app.count(&format!("SELECT count(*) AS n FROM emails WHERE user_id = '{alice_id}' AND verified")).await,
        1
    );
    assert_eq!(
        app.count(&format!("SELECT count(*) AS n FROM local_credentials WHERE user_id = '{alice_id}'")).await,
        0
    );
    assert_eq!(teams(app, alice_id.clone()).await, "Data");

    // Next time, the same account (found by subject); the groups now leave her out of Data.
    alice.groups = vec![];
    world.provider.sign_in_as(alice);
    let back = walk(&world).await;
    let again = exchange(app, &parameter(&back, "signInCode").unwrap()).await;
    assert_eq!(again["data"]["exchangeSignInCode"]["user"]["id"], alice_id.as_str());
    assert_eq!(teams(app, alice_id.clone()).await, "");
    assert_eq!(app.count("SELECT count(*) AS n FROM users WHERE username LIKE 'alice%'").await, 1);

    // The client secret is nowhere: not in responses, audit events or logs.
    let providers = app
        .gql(
            "query($o: Uuid!) { identityProviders(organizationUuid: $o) { id name displayName issuerUrl clientId clientSecretSource scopes emailClaim nameClaim groupsClaim enabled } }",
            json!({"o": acme}),
            Some(&world.root),
        )
        .await;
    assert_eq!(providers["data"]["identityProviders"][0]["name"], "acme");
    assert!(!providers.to_string().contains(SECRET));
    let audit = app.text("SELECT coalesce(json_agg(a), '[]')::text AS t FROM audit_events a").await;
    assert!(audit.contains("organization.identityProvider.create") && audit.contains("user.signIn"));
    assert!(!audit.contains(SECRET));
    assert!(!captured_logs().contains(SECRET));
    let every_row = app.access_snapshot().await;
    assert!(!every_row.contains(SECRET));
}

async fn refused_at_callback(world: &World, person: Person, tweaks: Tweaks, expected: &str) {
    world.provider.sign_in_as(person);
    world.provider.tweak(tweaks);
    let before = counts(&world.app).await;
    let back = walk(world).await;
    world.provider.tweak(Tweaks::default());
    let error = parameter(&back, "signInError").unwrap_or_else(|| panic!("not refused: {back}"));
    assert!(error.contains(expected), "{error}");
    assert_eq!(parameter(&back, "signInCode"), None);
    assert_eq!(counts(&world.app).await, before, "{expected}: nothing is created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_replayed_and_untrustworthy_sign_ins_are_refused_and_create_nothing() {
    let world = world().await;
    let app = &world.app;
    let bob = Person::new("sub-bob", "bob@acme.test");

    // A tampered state: no flow has it.
    world.provider.sign_in_as(bob.clone());
    let before = counts(app).await;
    let at = to_callback(&world).await;
    let state = parameter(&at.callback, "state").unwrap();
    let tampered = at.callback.replace(&state, &format!("{state}x"));
    let response = world.browser.get(&tampered).header(reqwest::header::COOKIE, &at.cookie).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.text().await.unwrap().contains("invalid, expired or was used already"));
    assert_eq!(counts(app).await, before);
    // The untampered callback of that flow still works once; replayed, it is refused.
    let done = finish(&world, &at).await;
    assert!(parameter(&location(&done), "signInCode").is_some());
    let before = counts(app).await;
    let replayed = finish(&world, &at).await;
    assert_eq!(replayed.status(), StatusCode::BAD_REQUEST);
    assert_eq!(counts(app).await, before);

    // A replayed code under a fresh flow: the provider refuses it, capcom says so.
    let fresh = to_callback(&world).await;
    let old_code = parameter(&at.callback, "code").unwrap();
    let new_code = parameter(&fresh.callback, "code").unwrap();
    let swapped = AtCallback { callback: fresh.callback.replace(&new_code, &old_code), cookie: fresh.cookie.clone() };
    let before = counts(app).await;
    let back = location(&finish(&world, &swapped).await);
    assert!(parameter(&back, "signInError").unwrap().contains("did not accept the sign-in code"), "{back}");
    assert_eq!(counts(app).await, before);

    // The callback from another browser (no flow cookie) is refused.
    let other = to_callback(&world).await;
    let back = location(&world.browser.get(&other.callback).send().await.unwrap());
    assert!(parameter(&back, "signInError").unwrap().contains("another browser"), "{back}");

    // Untrustworthy ID tokens, for a new person (so that "nothing created" is visible).
    let carol = Person::new("sub-carol", "carol@acme.test");
    refused_at_callback(
        &world,
        carol.clone(),
        Tweaks { audience: Some("someone-else".into()), ..Tweaks::default() },
        "audience",
    )
    .await;
    refused_at_callback(&world, carol.clone(), Tweaks { expiry_offset: Some(-3600), ..Tweaks::default() }, "expired")
        .await;
    refused_at_callback(
        &world,
        carol.clone(),
        Tweaks { nonce: Some("not-the-nonce".into()), ..Tweaks::default() },
        "nonce",
    )
    .await;
    let mut unverified = carol.clone();
    unverified.email_verified = false;
    refused_at_callback(&world, unverified, Tweaks::default(), "has not verified this email address").await;
    refused_at_callback(
        &world,
        Person::new("sub-eve", "eve@elsewhere.test"),
        Tweaks::default(),
        "domains its organization has verified",
    )
    .await;
    let mut disabled = carol.clone();
    disabled.disabled = true;
    refused_at_callback(&world, disabled, Tweaks::default(), "access_denied").await;

    // An account deactivated in capcom (bob signed in before) is refused at its next sign-in.
    app.text(
        "WITH u AS (UPDATE users SET status = 'inactive' WHERE username = 'bob@acme.test') SELECT NULL::text AS t",
    )
    .await;
    refused_at_callback(&world, bob, Tweaks::default(), "disabled").await;
    assert_eq!(
        app.count("SELECT count(*) AS n FROM users WHERE username LIKE 'carol%' OR username LIKE 'eve%'").await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_settings_keep_secrets_out_of_reach() {
    let world = world().await;
    let app = &world.app;
    let create = |input: Value| {
        let (app, root, acme) = (&world.app, world.root.clone(), world.acme.clone());
        async move {
            app.gql(
                "mutation($o: Uuid!, $i: IdentityProviderInput!) { createIdentityProvider(organizationUuid: $o, input: $i) { id } }",
                json!({"o": acme, "i": input}),
                Some(&root),
            )
            .await
        }
    };
    let before = app.access_snapshot().await;
    // No setting names a secret: capcom's own secrets, another provider's, or any file cannot be chosen.
    for (setting, value) in [
        ("clientSecretEnv", "CAPCOM_JWT_SECRET"),
        ("clientSecretEnv", "CAPCOM_OIDC_SECRET_ACME"),
        ("clientSecretFile", "/etc/hostname"),
    ] {
        let body = create(json!({"name": "x", "issuerUrl": "https://idp.test", "clientId": "c", setting: value})).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
        assert!(body["errors"][0]["message"].as_str().unwrap().contains(setting), "{body}");
    }
    for (input, field) in [
        (json!({"name": "Bad Name", "issuerUrl": "https://idp.test", "clientId": "c"}), "input.name"),
        (json!({"name": "x", "issuerUrl": "not a url", "clientId": "c"}), "input.issuerUrl"),
        (json!({"name": "acme", "issuerUrl": "https://idp.test", "clientId": ""}), "input.clientId"),
    ] {
        let body = create(input).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
    }
    let taken = create(json!({"name": "acme", "issuerUrl": "https://idp.test", "clientId": "c"})).await;
    assert_eq!(error_code(&taken), "CONFLICT");
    assert_eq!(app.access_snapshot().await, before);

    // Disabled, it is no longer offered and cannot be started.
    let id = app.text("SELECT id::text AS t FROM identity_providers WHERE name = 'acme'").await;
    let updated = app
        .gql(
            "mutation($o: Uuid!, $p: Uuid!, $i: IdentityProviderInput!) { updateIdentityProvider(organizationUuid: $o, providerUuid: $p, input: $i) { enabled } }",
            json!({"o": world.acme, "p": id, "i": {"name": "acme", "issuerUrl": world.provider.issuer, "clientId": "capcom-client", "enabled": false}}),
            Some(&world.root),
        )
        .await;
    assert_eq!(updated["data"]["updateIdentityProvider"]["enabled"], false, "{updated}");
    let config = app.gql("{ authConfig { providers { name } } }", json!({}), None).await;
    assert_eq!(config["data"]["authConfig"]["providers"], json!([]));
    let start = world.browser.get(format!("{}/v1/oauth/start?provider=acme", app.base)).send().await.unwrap();
    assert_eq!(start.status(), StatusCode::NOT_FOUND);
    // A redirect to a foreign site is refused.
    let foreign = world
        .browser
        .get(format!("{}/v1/oauth/start?provider=acme&redirect=https://evil.test/", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), StatusCode::BAD_REQUEST);
}

/// Text PostgreSQL cannot store (a NUL character) in an ID token's claims or the sign-in parameters is
/// refused like any unusable sign-in, never an internal error (SPEC §7), and creates nobody.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nul_character_in_claims_or_parameters_is_refused_not_internal() {
    let world = world().await;
    let app = &world.app;
    let users = app.count("SELECT count(*) AS n FROM users").await;
    for (subject, name) in [("sub-nul", "a\u{0}b"), ("nul\u{0}2", "Nul")] {
        let mut person = Person::new(subject, "nul@acme.test");
        person.name = name.into();
        world.provider.sign_in_as(person);
        let back = walk(&world).await;
        let error = parameter(&back, "signInError").unwrap_or_default();
        assert!(error.contains("NUL"), "{back}");
        assert!(!error.contains("Internal"), "{back}");
    }
    assert_eq!(app.count("SELECT count(*) AS n FROM users").await, users);
    let start = world.browser.get(format!("{}/v1/oauth/start?provider=ac%00me", app.base)).send().await.unwrap();
    assert_eq!(start.status(), 400);
}
