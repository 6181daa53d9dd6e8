//! Forged, stale and confused tokens are all refused with UNAUTHENTICATED.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use capcom::auth::jwt::{Claims, JwtKeys};
use chrono::Utc;
use serde_json::json;

use crate::common::{TestApp, error_code, error_message, test_config};

async fn assert_refused(app: &TestApp, token: &str, what: &str) {
    let body = app.gql("{ self { id } }", json!({}), Some(token)).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED", "{what}: {body}");
    assert_eq!(error_message(&body), "Your token has expired or is invalid. Please log in again.", "{what}");
}

async fn assert_accepted(app: &TestApp, token: &str, what: &str) {
    let body = app.gql("{ self { id } }", json!({}), Some(token)).await;
    assert!(body["data"]["self"]["id"].is_string(), "{what}: {body}");
}

async fn signed_up(app: &TestApp) -> (String, Claims) {
    let (token, id) = app.sign_up("ada@example.com", "correct horse battery").await;
    let claims = app.state.keys.verify(&token, Utc::now()).expect("own token verifies");
    assert_eq!(claims.uuid.to_string(), id);
    (token, claims)
}

#[tokio::test]
async fn expired_and_not_yet_valid_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let (token, claims) = signed_up(&app).await;
    let now = Utc::now().timestamp();

    let expired = Claims { iat: now - 7200, nbf: now - 7200, exp: now - 3600, ..claims.clone() };
    assert_refused(&app, &app.state.keys.sign(&expired).unwrap(), "expired").await;

    let future = Claims { iat: now + 3600, nbf: now + 3600, exp: now + 7200, ..claims.clone() };
    assert_refused(&app, &app.state.keys.sign(&future).unwrap(), "not yet valid").await;

    // The same token expires when the server's clock passes `exp` (+ leeway).
    app.clock.advance(chrono::Duration::seconds(app.state.config.jwt_lifetime_secs + 61));
    assert_refused(&app, &token, "expired by the clock").await;
}

#[tokio::test]
async fn wrong_signature_none_algorithm_and_tampering_are_refused() {
    let app = TestApp::spawn_with(|config| config.public_signups = true).await;
    let (token, claims) = signed_up(&app).await;
    let (_, other_id) = app.sign_up("bob@example.com", "correct horse battery").await;

    // The positive control: the same claims, signed again with the server's key, are accepted; each case
    // below changes one thing.
    assert_accepted(&app, &token, "the token as issued").await;
    assert_accepted(&app, &app.state.keys.sign(&claims).unwrap(), "the claims re-signed with the right key").await;

    // Signed by another key of the same kind.
    let other_keys = JwtKeys::from_config(&test_config()).unwrap();
    assert_refused(&app, &other_keys.sign(&claims).unwrap(), "wrong signature").await;

    // `alg: none`.
    let header = URL_SAFE_NO_PAD.encode(json!({"alg": "none", "typ": "JWT"}).to_string());
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_string(&claims).unwrap());
    assert_refused(&app, &format!("{header}.{payload}."), "alg none").await;

    // Claims changed to another user, signature kept.
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let forged = Claims { sub: other_id.clone(), uuid: other_id.parse().unwrap(), ..claims.clone() };
    parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_string(&forged).unwrap());
    assert_refused(&app, &parts.join("."), "tampered claims").await;

    // Wrong audience and issuer, correctly signed.
    let wrong_audience = Claims { aud: "someone-else".into(), ..claims.clone() };
    assert_refused(&app, &app.state.keys.sign(&wrong_audience).unwrap(), "audience").await;
    let wrong_issuer = Claims { iss: "someone-else".into(), ..claims.clone() };
    assert_refused(&app, &app.state.keys.sign(&wrong_issuer).unwrap(), "issuer").await;
}

/// The key published at `/.well-known/jwks.json` verifies the tokens capcom issues (what an Airflow
/// deployment or another service relies on), with capcom's issuer and audience.
#[tokio::test]
async fn the_published_key_verifies_issued_tokens() {
    let app = TestApp::spawn().await;
    let (token, claims) = signed_up(&app).await;
    let jwks: jsonwebtoken::jwk::JwkSet =
        app.client.get(format!("{}/.well-known/jwks.json", app.base)).send().await.unwrap().json().await.unwrap();
    let header = jsonwebtoken::decode_header(&token).unwrap();
    let jwk = match &header.kid {
        Some(kid) => jwks.find(kid).expect("the token's kid is published"),
        None => jwks.keys.first().expect("a published key"),
    };
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_audience(&[app.state.config.jwt_audience.as_str()]);
    validation.set_issuer(&[app.state.config.jwt_issuer.as_str()]);
    let decoded = jsonwebtoken::decode::<Claims>(&token, &key, &validation).expect("the published key verifies");
    assert_eq!(decoded.claims.uuid, claims.uuid);
    // And it refuses a token signed by another key.
    let other = JwtKeys::from_config(&test_config()).unwrap().sign(&claims).unwrap();
    assert!(jsonwebtoken::decode::<Claims>(&other, &key, &validation).is_err());
}

#[tokio::test]
async fn hs256_signed_with_the_public_key_is_refused_by_an_eddsa_server() {
    let app = TestApp::spawn().await;
    assert_eq!(app.state.keys.algorithm(), jsonwebtoken::Algorithm::EdDSA);
    let (_, claims) = signed_up(&app).await;
    let jwks: serde_json::Value =
        app.client.get(format!("{}/.well-known/jwks.json", app.base)).send().await.unwrap().json().await.unwrap();
    let public_x = jwks["keys"][0]["x"].as_str().unwrap().to_owned();
    let public_bytes = URL_SAFE_NO_PAD.decode(&public_x).unwrap();
    for secret in [public_x.as_bytes().to_vec(), public_bytes] {
        let token = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(&secret),
        )
        .unwrap();
        assert_refused(&app, &token, "HS256 with the public key").await;
    }
}

#[tokio::test]
async fn an_hs256_server_refuses_asymmetric_tokens_and_short_secrets() {
    let secret = "a-test-secret-that-is-at-least-32-bytes-long";
    let app = TestApp::spawn_with(|config| config.jwt_secret = Some(secret.into())).await;
    assert_eq!(app.state.keys.algorithm(), jsonwebtoken::Algorithm::HS256);
    let (token, claims) = signed_up(&app).await;
    let body = app.gql("{ self { id } }", json!({}), Some(&token)).await;
    assert!(body["data"]["self"]["id"].is_string(), "HS256 tokens work: {body}");

    let eddsa_keys = JwtKeys::from_config(&test_config()).unwrap();
    assert_refused(&app, &eddsa_keys.sign(&claims).unwrap(), "EdDSA token on an HS256 server").await;

    let mut short = test_config();
    short.jwt_secret = Some("too-short".into());
    assert!(JwtKeys::from_config(&short).is_err(), "short HS256 secrets are refused at start");
}

#[tokio::test]
async fn tokens_issued_before_tokens_valid_after_are_refused() {
    let app = TestApp::spawn().await;
    let (token, claims) = signed_up(&app).await;
    app.gql("mutation { logout }", json!({}), Some(&token)).await;
    // A token minted with an iat before the revocation, even if otherwise perfectly valid.
    let now = Utc::now().timestamp();
    let old = Claims { iat: now - 10, nbf: now - 10, ..claims };
    assert_refused(&app, &app.state.keys.sign(&old).unwrap(), "issued before logout").await;
}

/// Verified tokens are remembered (`JwtKeys::verify`): a token the server has already accepted is still
/// refused once it is revoked, once it expires, and the same claims signed with another key are refused
/// while the genuine token is remembered.
#[tokio::test]
async fn remembered_tokens_are_refused_once_revoked_expired_or_signed_elsewhere() {
    let app = TestApp::spawn_with(|config| config.public_signups = true).await;
    let (token, claims) = signed_up(&app).await;
    for _ in 0..3 {
        assert_accepted(&app, &token, "the token, accepted again and again").await;
    }
    let other_keys = JwtKeys::from_config(&test_config()).unwrap();
    assert_refused(&app, &other_keys.sign(&claims).unwrap(), "the same claims signed with another key").await;
    let mut tampered = claims.clone();
    tampered.exp += 3600;
    let forged = {
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&tampered).unwrap());
        parts.join(".")
    };
    assert_refused(&app, &forged, "the remembered token's claims changed, its signature kept").await;
    assert_accepted(&app, &token, "the genuine token still").await;

    // Revoked: signing out (with another token of the same user) refuses every earlier token.
    let second = app.sign_in("ada@example.com", "correct horse battery").await;
    let second = second["data"]["createToken"]["token"]["value"].as_str().unwrap().to_owned();
    assert_accepted(&app, &second, "a second token").await;
    app.clock.advance(chrono::Duration::seconds(2));
    let body = app.gql("mutation { logout }", json!({}), Some(&second)).await;
    assert_eq!(body["data"]["logout"], true, "{body}");
    assert_refused(&app, &token, "the remembered token after logout").await;
    assert_refused(&app, &second, "the token that signed out").await;

    // Expired: a fresh token, remembered, then the clock passes its `exp` (+ leeway).
    app.clock.advance(chrono::Duration::seconds(2));
    let third = app.sign_in("ada@example.com", "correct horse battery").await;
    let third = third["data"]["createToken"]["token"]["value"].as_str().unwrap().to_owned();
    assert_accepted(&app, &third, "a token after the logout").await;
    app.clock.advance(chrono::Duration::seconds(app.state.config.jwt_lifetime_secs + 61));
    assert_refused(&app, &third, "the remembered token once expired").await;
}
