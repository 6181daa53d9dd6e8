//! An OpenID Connect provider on loopback for the sign-in tests: discovery, JWKS, an authorization
//! endpoint that signs in whoever the test names (there is no login page to walk), and a token endpoint
//! that checks the client's secret, the redirect URI, the PKCE verifier and that each code is used once,
//! and issues RS256 ID tokens. Tests can make it misbehave (wrong audience, expired token, wrong nonce,
//! unverified address) to prove capcom refuses.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// A person the provider knows.
#[derive(Debug, Clone)]
pub struct Person {
    pub subject: String,
    pub email: String,
    pub email_verified: bool,
    pub name: String,
    pub groups: Vec<String>,
    pub disabled: bool,
}

impl Person {
    pub fn new(subject: &str, email: &str) -> Person {
        Person {
            subject: subject.into(),
            email: email.into(),
            email_verified: true,
            name: format!("Person {subject}"),
            groups: Vec::new(),
            disabled: false,
        }
    }
}

/// Ways to make the next ID tokens wrong.
#[derive(Debug, Clone, Default)]
pub struct Tweaks {
    /// `aud` to put instead of the client id.
    pub audience: Option<String>,
    /// Seconds added to `exp` (negative: already expired).
    pub expiry_offset: Option<i64>,
    /// `nonce` to put instead of the one asked for.
    pub nonce: Option<String>,
}

struct Grant {
    redirect_uri: String,
    challenge: String,
    nonce: Option<String>,
    person: Person,
}

struct Inner {
    issuer: String,
    client_id: String,
    client_secret: String,
    kid: String,
    encoding: jsonwebtoken::EncodingKey,
    jwk: Value,
    signed_in: Mutex<Option<Person>>,
    codes: Mutex<HashMap<String, Grant>>,
    tweaks: Mutex<Tweaks>,
    /// Query parameters of every authorization request.
    pub authorizations: Mutex<Vec<HashMap<String, String>>>,
    /// Form parameters of every token request.
    pub token_requests: Mutex<Vec<HashMap<String, String>>>,
}

/// A running provider.
#[derive(Clone)]
pub struct Provider {
    pub issuer: String,
    inner: Arc<Inner>,
}

/// One RSA key for every provider of the test binary (generating one is slow without optimizations).
fn key() -> &'static (String, Value) {
    static KEY: OnceLock<(String, Value)> = OnceLock::new();
    KEY.get_or_init(|| {
        use rsa::pkcs8::EncodePrivateKey as _;
        use rsa::traits::PublicKeyParts as _;
        let mut rng = rsa::rand_core::OsRng;
        let key = rsa::RsaPrivateKey::new(&mut rng, 2048).expect("RSA key");
        let pem = key.to_pkcs8_pem(rsa::pkcs8::LineEnding::LF).expect("PEM").to_string();
        let jwk = json!({
            "kty": "RSA", "use": "sig", "alg": "RS256",
            "n": URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()),
            "e": URL_SAFE_NO_PAD.encode(key.e().to_bytes_be()),
        });
        (pem, jwk)
    })
}

impl Provider {
    /// Starts a provider on a loopback port, with one registered client.
    pub async fn start(client_id: &str, client_secret: &str) -> Provider {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let issuer = format!("http://{}", listener.local_addr().expect("addr"));
        let (pem, jwk) = key();
        let kid = format!("test-{}", uuid::Uuid::new_v4().simple());
        let mut jwk = jwk.clone();
        jwk["kid"] = json!(kid);
        let inner = Arc::new(Inner {
            issuer: issuer.clone(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            kid,
            encoding: jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).expect("key"),
            jwk,
            signed_in: Mutex::new(None),
            codes: Mutex::new(HashMap::new()),
            tweaks: Mutex::new(Tweaks::default()),
            authorizations: Mutex::new(Vec::new()),
            token_requests: Mutex::new(Vec::new()),
        });
        let router = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .with_state(inner.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Provider { issuer, inner }
    }

    /// The person the next authorization request signs in.
    pub fn sign_in_as(&self, person: Person) {
        *self.inner.signed_in.lock().unwrap() = Some(person);
    }

    /// Makes the next ID tokens wrong in the given ways.
    pub fn tweak(&self, tweaks: Tweaks) {
        *self.inner.tweaks.lock().unwrap() = tweaks;
    }

    /// Query parameters of the last authorization request.
    pub fn last_authorization(&self) -> HashMap<String, String> {
        self.inner.authorizations.lock().unwrap().last().cloned().unwrap_or_default()
    }

    /// Form parameters of the last token request.
    pub fn last_token_request(&self) -> HashMap<String, String> {
        self.inner.token_requests.lock().unwrap().last().cloned().unwrap_or_default()
    }
}

async fn discovery(State(inner): State<Arc<Inner>>) -> Json<Value> {
    let issuer = &inner.issuer;
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "email", "profile", "groups"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": ["sub", "email", "email_verified", "name", "groups"],
    }))
}

async fn jwks(State(inner): State<Arc<Inner>>) -> Json<Value> {
    Json(json!({"keys": [inner.jwk]}))
}

fn redirect(location: &str) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, location.to_owned())]).into_response()
}

async fn authorize(State(inner): State<Arc<Inner>>, Query(query): Query<HashMap<String, String>>) -> Response {
    inner.authorizations.lock().unwrap().push(query.clone());
    let redirect_uri = query.get("redirect_uri").cloned().unwrap_or_default();
    let state = query.get("state").cloned().unwrap_or_default();
    let mut target = url::Url::parse(&redirect_uri).expect("redirect_uri");
    if query.get("client_id") != Some(&inner.client_id)
        || query.get("response_type").map(String::as_str) != Some("code")
    {
        return (StatusCode::BAD_REQUEST, "unknown client").into_response();
    }
    let person = inner.signed_in.lock().unwrap().clone();
    match person {
        Some(person) if !person.disabled && query.get("code_challenge_method").map(String::as_str) == Some("S256") => {
            let code = format!("code-{}", uuid::Uuid::new_v4().simple());
            inner.codes.lock().unwrap().insert(
                code.clone(),
                Grant {
                    redirect_uri,
                    challenge: query.get("code_challenge").cloned().unwrap_or_default(),
                    nonce: query.get("nonce").cloned(),
                    person,
                },
            );
            target.query_pairs_mut().append_pair("code", &code).append_pair("state", &state);
        }
        _ => {
            target
                .query_pairs_mut()
                .append_pair("error", "access_denied")
                .append_pair("error_description", "The account is disabled")
                .append_pair("state", &state);
        }
    }
    redirect(target.as_str())
}

fn token_error(error: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"error": error}))).into_response()
}

fn client_of(headers: &HeaderMap, form: &HashMap<String, String>) -> Option<(String, String)> {
    if let Some(basic) =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Basic "))
    {
        let decoded = String::from_utf8(STANDARD.decode(basic).ok()?).ok()?;
        let (id, secret) = decoded.split_once(':')?;
        let id = url::form_urlencoded::parse(format!("x={id}").as_bytes()).next()?.1.into_owned();
        let secret = url::form_urlencoded::parse(format!("x={secret}").as_bytes()).next()?.1.into_owned();
        return Some((id, secret));
    }
    Some((form.get("client_id")?.clone(), form.get("client_secret")?.clone()))
}

async fn token(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    inner.token_requests.lock().unwrap().push(form.clone());
    if client_of(&headers, &form) != Some((inner.client_id.clone(), inner.client_secret.clone())) {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": "invalid_client"}))).into_response();
    }
    if form.get("grant_type").map(String::as_str) != Some("authorization_code") {
        return token_error("unsupported_grant_type");
    }
    // A code works once: taken out whatever happens next.
    let Some(grant) = form.get("code").and_then(|code| inner.codes.lock().unwrap().remove(code)) else {
        return token_error("invalid_grant");
    };
    if form.get("redirect_uri") != Some(&grant.redirect_uri) {
        return token_error("invalid_grant");
    }
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    if URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) != grant.challenge {
        return token_error("invalid_grant");
    }
    let tweaks = inner.tweaks.lock().unwrap().clone();
    let now = chrono::Utc::now().timestamp();
    let person = grant.person;
    let claims = json!({
        "iss": inner.issuer,
        "sub": person.subject,
        "aud": tweaks.audience.clone().unwrap_or_else(|| inner.client_id.clone()),
        "iat": now,
        "exp": now + 300 + tweaks.expiry_offset.unwrap_or(0),
        "nonce": tweaks.nonce.clone().or(grant.nonce),
        "email": person.email,
        "email_verified": person.email_verified,
        "name": person.name,
        "groups": person.groups,
    });
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(inner.kid.clone());
    let id_token = jsonwebtoken::encode(&header, &claims, &inner.encoding).expect("sign");
    Json(json!({
        "access_token": format!("at-{}", uuid::Uuid::new_v4().simple()),
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": id_token,
    }))
    .into_response()
}
