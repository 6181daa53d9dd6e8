//! OpenID Connect sign-in (authorization-code flow with PKCE, through the `openidconnect` crate):
//!
//! - `GET /v1/oauth/start?provider=<name>[&redirect=<console address>]` discovers the provider, records
//!   the flow (hashes of `state` and of a browser cookie; the nonce and the PKCE verifier) and redirects to
//!   the provider with `state`, `nonce` and the S256 challenge;
//! - `GET /v1/oauth/callback` takes the flow named by `state` (once), checks the cookie, exchanges the code
//!   with the PKCE verifier, verifies the ID token against the provider's JWKS (signature, issuer,
//!   audience, expiry, nonce), signs the person in ([`crate::domain::identity_providers::sign_in`]) and
//!   redirects to the console with a one-time `signInCode` (exchanged by `exchangeSignInCode`), or with
//!   `signInError` saying why not. A callback whose `state` names no flow answers 400 without redirecting.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use axum::Extension;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl,
    Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use serde_json::Value;
use tower_http::request_id::RequestId;

use crate::db::models::identity_provider::{IdentityProvider, OidcFlow};
use crate::domain::Actor;
use crate::domain::identity_providers::{
    self as rules, FLOW_LIFETIME_SECS, VerifiedIdentity, hash, random_value, read_secret,
};
use crate::error::ApiError;
use crate::graphql::identity_providers::secret_policy;
use crate::http::client::ClientAddress;
use crate::http::router::HttpState;
use crate::http::scim::api_base;

/// The cookie tying a flow to the browser that started it.
pub const FLOW_COOKIE: &str = "capcom_oidc";

/// The client `from_provider_metadata` makes: authorization URL set, token and user-info URLs as
/// discovered.
type Client =
    CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointMaybeSet, EndpointMaybeSet>;

/// One HTTP client for every provider: no redirects (following them would let a provider's answers
/// steer capcom's requests), a deadline on every request.
fn http_client() -> Result<&'static openidconnect::reqwest::Client, String> {
    static CLIENT: OnceLock<Result<openidconnect::reqwest::Client, String>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            openidconnect::reqwest::ClientBuilder::new()
                .redirect(openidconnect::reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(10))
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(Clone::clone)
}

fn page(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8"), (header::CACHE_CONTROL, "no-store")],
        message.to_owned(),
    )
        .into_response()
}

fn see_other(location: &str, clear_cookie: bool) -> Response {
    let mut response = (StatusCode::SEE_OTHER, [(header::CACHE_CONTROL, "no-store")]).into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    if clear_cookie {
        response.headers_mut().insert(
            header::SET_COOKIE,
            HeaderValue::from_static("capcom_oidc=; Path=/v1/oauth; HttpOnly; SameSite=Lax; Max-Age=0"),
        );
    }
    response
}

/// `target` with `name=value` added to its query.
fn with_parameter(target: &str, name: &str, value: &str) -> String {
    match url::Url::parse(target) {
        Ok(mut url) => {
            url.query_pairs_mut().append_pair(name, value);
            url.to_string()
        }
        Err(_) => target.to_owned(),
    }
}

/// The console address a flow may return to: the `redirect` parameter when its origin is this API's, the
/// console's (`CAPCOM_PUBLIC_URL`) or one of `CAPCOM_CORS_ORIGINS`; else the console's address.
fn return_address(state: &HttpState, headers: &HeaderMap, requested: Option<&String>) -> Result<String, String> {
    let console = state.app.config.public_url.clone();
    let Some(requested) = requested.map(|r| r.trim()).filter(|r| !r.is_empty()) else { return Ok(console) };
    let url = url::Url::parse(requested).map_err(|_| "redirect must be an absolute URL".to_owned())?;
    let origin = url.origin().ascii_serialization();
    let same = |other: &str| url::Url::parse(other).is_ok_and(|o| o.origin().ascii_serialization() == origin);
    let allowed = same(&console)
        || same(&api_base(state, headers))
        || HeaderValue::from_str(&origin).is_ok_and(|value| state.origins.allows(&value));
    if allowed && matches!(url.scheme(), "http" | "https") {
        Ok(url.to_string())
    } else {
        Err("redirect must be an address of the console or an allowed origin".to_owned())
    }
}

async fn client_for(state: &HttpState, headers: &HeaderMap, provider: &IdentityProvider) -> Result<Client, String> {
    let http = http_client()?;
    let issuer =
        IssuerUrl::new(provider.issuer_url.clone()).map_err(|_| "The provider's issuer URL is invalid".to_owned())?;
    let metadata = CoreProviderMetadata::discover_async(issuer, http).await.map_err(|error| {
        tracing::warn!(provider = %provider.name, %error, "OpenID Connect discovery failed");
        "The identity provider cannot be reached; try again later".to_owned()
    })?;
    let policy = secret_policy(&state.app);
    let secret = read_secret(provider.organization_id, &provider.name, &policy).map_err(|error| {
        tracing::error!(provider = %provider.name, %error, "the provider's client secret cannot be read");
        "The identity provider is misconfigured; tell an administrator".to_owned()
    })?;
    let redirect = RedirectUrl::new(format!("{}/v1/oauth/callback", api_base(state, headers)))
        .map_err(|_| "The callback address is invalid; set CAPCOM_API_URL".to_owned())?;
    Ok(CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(provider.client_id.clone()),
        secret.map(ClientSecret::new),
    )
    .set_redirect_uri(redirect))
}

/// `GET /v1/oauth/start`.
pub async fn start(
    State(state): State<HttpState>,
    headers: HeaderMap,
    Query(parameters): Query<HashMap<String, String>>,
) -> Response {
    if crate::http::input::nul_parameter(&parameters).is_some() {
        return page(StatusCode::BAD_REQUEST, "A parameter holds a NUL character (\\u0000)");
    }
    let Some(name) = parameters.get("provider").map(|p| p.trim().to_lowercase()).filter(|p| !p.is_empty()) else {
        return page(StatusCode::BAD_REQUEST, "Name the identity provider: /v1/oauth/start?provider=<name>");
    };
    let redirect_to = match return_address(&state, &headers, parameters.get("redirect")) {
        Ok(address) => address,
        Err(message) => return page(StatusCode::BAD_REQUEST, &message),
    };
    let provider = {
        let Ok(mut conn) = state.app.pool.get().await else {
            return page(StatusCode::SERVICE_UNAVAILABLE, crate::error::MSG_UNAVAILABLE);
        };
        match rules::by_name(&mut conn, &name).await {
            Ok(provider) => provider,
            Err(ApiError::NotFound) => return page(StatusCode::NOT_FOUND, "There is no such identity provider"),
            Err(_) => return page(StatusCode::SERVICE_UNAVAILABLE, crate::error::MSG_UNAVAILABLE),
        }
    };
    let client = match client_for(&state, &headers, &provider).await {
        Ok(client) => client,
        Err(message) => return page(StatusCode::BAD_GATEWAY, &message),
    };
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request =
        client.authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random);
    for scope in provider.scopes.split_whitespace().filter(|scope| *scope != "openid") {
        request = request.add_scope(Scope::new(scope.to_owned()));
    }
    let (url, csrf, nonce) = request.set_pkce_challenge(challenge).url();
    let Ok(browser) = random_value() else { return page(StatusCode::INTERNAL_SERVER_ERROR, "Internal error") };
    let now = state.app.clock.now();
    let flow = OidcFlow {
        state_hash: hash(csrf.secret()),
        provider_id: provider.id,
        browser_hash: hash(&browser),
        nonce: nonce.secret().clone(),
        pkce_verifier: verifier.secret().clone(),
        redirect_to,
        expires_at: now + chrono::Duration::seconds(FLOW_LIFETIME_SECS),
    };
    {
        let Ok(mut conn) = state.app.pool.get().await else {
            return page(StatusCode::SERVICE_UNAVAILABLE, crate::error::MSG_UNAVAILABLE);
        };
        if rules::start_flow(&mut conn, flow, now).await.is_err() {
            return page(StatusCode::SERVICE_UNAVAILABLE, crate::error::MSG_UNAVAILABLE);
        }
    }
    let secure = if api_base(&state, &headers).starts_with("https://") { "; Secure" } else { "" };
    let cookie = format!(
        "{FLOW_COOKIE}={browser}; Path=/v1/oauth; HttpOnly; SameSite=Lax; Max-Age={FLOW_LIFETIME_SECS}{secure}"
    );
    let mut response = see_other(url.as_str(), false);
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

fn flow_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == FLOW_COOKIE)
        .map(|(_, value)| value.to_owned())
}

/// The JSON payload of a JWT (whose signature the caller has verified).
fn payload_of(token: &str) -> Option<serde_json::Map<String, Value>> {
    let part = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn truthy(value: Option<&Value>) -> bool {
    match value {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// `GET /v1/oauth/callback`.
pub async fn callback(
    State(state): State<HttpState>,
    request_id: Option<Extension<RequestId>>,
    client_address: Option<Extension<ClientAddress>>,
    headers: HeaderMap,
    Query(parameters): Query<HashMap<String, String>>,
) -> Response {
    let request_id =
        request_id.and_then(|Extension(id)| id.header_value().to_str().ok().map(str::to_owned)).unwrap_or_default();
    let now = state.app.clock.now();
    let unknown = "This sign-in link is invalid, expired or was used already; start the sign-in again";
    if crate::http::input::nul_parameter(&parameters).is_some() {
        return page(StatusCode::BAD_REQUEST, unknown);
    }
    let Some(flow_state) = parameters.get("state").filter(|s| !s.is_empty() && s.len() <= 512) else {
        return page(StatusCode::BAD_REQUEST, unknown);
    };
    let flow = {
        let Ok(mut conn) = state.app.pool.get().await else {
            return page(StatusCode::SERVICE_UNAVAILABLE, crate::error::MSG_UNAVAILABLE);
        };
        match rules::take_flow(&mut conn, flow_state, now).await {
            Ok(Some(flow)) => flow,
            Ok(None) => return page(StatusCode::BAD_REQUEST, unknown),
            Err(_) => return page(StatusCode::SERVICE_UNAVAILABLE, crate::error::MSG_UNAVAILABLE),
        }
    };
    let redirect_to = flow.redirect_to.clone();
    let refuse = |message: &str| {
        tracing::info!(request_id, reason = message, "OpenID Connect sign-in refused");
        see_other(&with_parameter(&redirect_to, "signInError", message), true)
    };
    if flow_cookie(&headers).is_none_or(|cookie| hash(&cookie) != flow.browser_hash) {
        return refuse("This sign-in was started in another browser; start it again here");
    }
    if let Some(error) = parameters.get("error") {
        let description = parameters.get("error_description").map(String::as_str).unwrap_or_default();
        let text: String =
            format!("The identity provider refused the sign-in: {error} {description}").chars().take(300).collect();
        return refuse(text.trim());
    }
    let Some(code) = parameters.get("code").filter(|c| !c.is_empty()) else {
        return refuse("The identity provider sent no code");
    };
    let provider = {
        let Ok(mut conn) = state.app.pool.get().await else {
            return page(StatusCode::SERVICE_UNAVAILABLE, crate::error::MSG_UNAVAILABLE);
        };
        match rules::get(&mut conn, flow.provider_id).await {
            Ok(provider) if provider.enabled => provider,
            _ => return refuse("This identity provider is no longer offered"),
        }
    };
    let client = match client_for(&state, &headers, &provider).await {
        Ok(client) => client,
        Err(message) => return refuse(&message),
    };
    let Ok(http) = http_client() else { return refuse("Internal error") };
    let exchange = match client.exchange_code(AuthorizationCode::new(code.clone())) {
        Ok(request) => request.set_pkce_verifier(PkceCodeVerifier::new(flow.pkce_verifier.clone())),
        Err(_) => return refuse("The identity provider has no token endpoint"),
    };
    let tokens = match exchange.request_async(http).await {
        Ok(tokens) => tokens,
        Err(error) => {
            tracing::info!(request_id, provider = %provider.name, %error, "code exchange refused");
            return refuse("The identity provider did not accept the sign-in code (used already or expired?)");
        }
    };
    let Some(id_token) = tokens.id_token() else {
        return refuse("The identity provider sent no ID token");
    };
    let clock = state.app.clock.clone();
    let verifier = client.id_token_verifier().set_time_fn(move || clock.now());
    let subject = match id_token.claims(&verifier, &Nonce::new(flow.nonce.clone())) {
        Ok(claims) => claims.subject().to_string(),
        Err(error) => return refuse(&format!("The ID token was refused: {error}")),
    };
    let Some(payload) = payload_of(&id_token.to_string()) else {
        return refuse("The ID token cannot be read");
    };
    // PostgreSQL stores no NUL character: a claim holding one is the provider's mistake (or an attack),
    // refused like any other unusable token rather than failing inside the sign-in.
    let holds_nul =
        |(key, value): (&String, &Value)| key.contains('\0') || crate::http::input::nul_in_json(value).is_some();
    if subject.contains('\0') || payload.iter().any(holds_nul) {
        return refuse("The ID token holds a NUL character (\\u0000) in a claim");
    }
    let text = |claim: &str| payload.get(claim).and_then(Value::as_str).map(str::to_owned);
    let identity = VerifiedIdentity {
        subject,
        email: text(&provider.email_claim).unwrap_or_default().trim().to_lowercase(),
        email_verified: truthy(payload.get("email_verified")),
        name: text(&provider.name_claim),
        groups: provider.groups_claim.as_ref().map(|claim| {
            payload
                .get(claim)
                .and_then(Value::as_array)
                .map(|groups| groups.iter().filter_map(Value::as_str).take(1000).map(str::to_owned).collect())
                .unwrap_or_default()
        }),
    };
    let actor = Actor {
        request_id: Some(request_id.clone()).filter(|id| !id.is_empty()),
        client_address: client_address.map(|Extension(address)| address.text()),
        ..Actor::default()
    };
    let Ok(mut conn) = state.app.pool.get().await else {
        return page(StatusCode::SERVICE_UNAVAILABLE, crate::error::MSG_UNAVAILABLE);
    };
    match rules::sign_in(&mut conn, &provider, identity, now, &actor).await {
        Ok((_, code)) => see_other(&with_parameter(&redirect_to, "signInCode", &code), true),
        Err(ApiError::Internal(detail)) => {
            tracing::error!(request_id, error = %detail, "OpenID Connect sign-in failed");
            refuse(&format!("Internal error (request {request_id})"))
        }
        Err(error) => refuse(&error.to_string()),
    }
}
