//! Browsers on other sites: CORS for the HTTP endpoints and the `Origin` check of the WebSocket upgrade,
//! both from one allowlist (`CAPCOM_CORS_ORIGINS`).
//!
//! capcom authenticates with a token in the `Authorization` header (or `connection_init`), never with a
//! cookie, so a browser attaches no credential by itself and CORS runs without credentials mode
//! (`Access-Control-Allow-Credentials` is never sent, and no origin is ever answered with `*`).
//!
//! | request | answer |
//! |---|---|
//! | preflight (`OPTIONS`) from a listed origin | 204 with `Access-Control-Allow-Origin` (that origin), `-Allow-Methods` (GET, POST), `-Allow-Headers` (authorization, content-type, x-request-id), `-Max-Age` (7200 s, Chromium's cap) |
//! | other request from a listed origin | served, with `Access-Control-Allow-Origin` and `Access-Control-Expose-Headers: x-request-id`, errors included |
//! | preflight from any other origin | 204 with no CORS header: the browser then refuses to send the request |
//! | other request from any other origin, or with no `Origin` | served as usual, with no CORS header (the browser keeps the response from the page) |
//! | WebSocket upgrade with no `Origin` (the CLI, scripts) | accepted (the token is checked at `connection_init`) |
//! | WebSocket upgrade from the page's own origin, or a listed one | accepted |
//! | WebSocket upgrade from any other origin | 403 before the upgrade |
//!
//! Browsers do not apply CORS to WebSockets, which is why the upgrade checks `Origin` itself: without the
//! check, any site could open a socket to a capcom on the user's network. Every response carries
//! `Vary: origin` so that caches keep answers per origin.

use std::collections::HashSet;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::config::Origin;
use crate::http::router::REQUEST_ID_HEADER;

/// How long a browser may reuse a preflight's answer: Chromium caps it at two hours, Firefox at one day.
pub const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(7200);

/// The origins of `CAPCOM_CORS_ORIGINS`, as browsers write them in `Origin`.
#[derive(Debug, Clone, Default)]
pub struct AllowedOrigins {
    /// Shared: the middleware clones its state on every request.
    origins: std::sync::Arc<HashSet<String>>,
}

impl AllowedOrigins {
    /// The allowlist of `origins`.
    pub fn new(origins: &[Origin]) -> Self {
        AllowedOrigins { origins: std::sync::Arc::new(origins.iter().map(Origin::to_string).collect()) }
    }

    /// Whether `origin` (an `Origin` header's value) is on the list.
    pub fn allows(&self, origin: &HeaderValue) -> bool {
        origin.to_str().is_ok_and(|origin| self.origins.contains(origin))
    }

    /// Whether a WebSocket upgrade with these headers may proceed: no `Origin` (not a browser), the page's
    /// own origin (its host and port are the `Host` the request was sent to; `authority` is used when an
    /// HTTP/2 request has no `Host`), or an origin on the list.
    pub fn allows_websocket(&self, headers: &HeaderMap, authority: Option<&str>) -> bool {
        let Some(origin) = headers.get(header::ORIGIN) else { return true };
        if self.allows(origin) {
            return true;
        }
        let Some(origin) = origin.to_str().ok().and_then(|text| text.parse::<Origin>().ok()) else { return false };
        let host = headers.get(header::HOST).and_then(|value| value.to_str().ok()).or(authority);
        host.is_some_and(|host| same_authority(&origin, host))
    }

    /// tower-http's CORS layer for this list.
    pub fn layer(&self) -> CorsLayer {
        let listed: Vec<HeaderValue> =
            self.origins.iter().filter_map(|origin| HeaderValue::from_str(origin).ok()).collect();
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(listed))
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, HeaderName::from_static(REQUEST_ID_HEADER)])
            .expose_headers([HeaderName::from_static(REQUEST_ID_HEADER)])
            .max_age(PREFLIGHT_MAX_AGE)
    }
}

/// Whether `host` (a `Host` header) names the host and port of `origin`.
fn same_authority(origin: &Origin, host: &str) -> bool {
    let host = host.trim().to_ascii_lowercase();
    if host == origin.authority() {
        return true;
    }
    // A `Host` may spell out the default port that the origin leaves out.
    let default_port = if origin.scheme() == "https" { 443 } else { 80 };
    origin.port().is_none() && host == format!("{}:{default_port}", origin.host())
}

/// Runs outside tower-http's CORS layer and finishes its answers: a preflight is answered 204 (the layer
/// answers 200, which browsers also accept, but a preflight has no content), and a response to an origin
/// that is not on the list, or to a request with no `Origin`, keeps no `Access-Control-*` header (the layer
/// adds the methods, headers, max-age and exposed headers whatever the origin; they would tell another
/// site what capcom accepts, and mean nothing without `Access-Control-Allow-Origin`).
/// Told from the request before it is served, applied to the response after (by the router's edge
/// middleware, `crate::http::router`).
#[derive(Debug, Clone, Copy)]
pub struct Finishing {
    allowed: bool,
    options: bool,
}

impl Finishing {
    /// How the response to `request` is finished.
    pub fn of<B>(origins: &AllowedOrigins, request: &axum::http::Request<B>) -> Finishing {
        Finishing {
            allowed: request.headers().get(header::ORIGIN).is_some_and(|origin| origins.allows(origin)),
            options: request.method() == Method::OPTIONS,
        }
    }

    /// Finishes `response` (see [`Finishing`]).
    pub fn apply(self, response: &mut Response) {
        if !self.allowed {
            let names: Vec<HeaderName> = response
                .headers()
                .keys()
                .filter(|name| name.as_str().starts_with("access-control-"))
                .cloned()
                .collect();
            for name in names {
                response.headers_mut().remove(name);
            }
        }
        // The layer answers every OPTIONS request itself, with 200 and an empty body.
        if self.options && response.status() == StatusCode::OK {
            *response.status_mut() = StatusCode::NO_CONTENT;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowlist(origins: &[&str]) -> AllowedOrigins {
        let parsed: Vec<Origin> = origins.iter().map(|origin| origin.parse().unwrap()).collect();
        AllowedOrigins::new(&parsed)
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn listed_origins_match_exactly() {
        let origins = allowlist(&["https://console.example.com", "http://localhost:3000"]);
        assert!(origins.allows(&HeaderValue::from_static("https://console.example.com")));
        assert!(origins.allows(&HeaderValue::from_static("http://localhost:3000")));
        for other in [
            "http://console.example.com",
            "https://console.example.com:8443",
            "https://console.example.com.evil.test",
            "https://evil.test",
            "null",
            "http://localhost:3001",
        ] {
            assert!(!origins.allows(&HeaderValue::from_static(other)), "{other}");
        }
    }

    #[test]
    fn a_websocket_needs_no_origin_its_own_origin_or_a_listed_one() {
        let origins = allowlist(&["https://console.example.com"]);
        assert!(origins.allows_websocket(&headers(&[("host", "capcom.example.com")]), None));
        let listed = headers(&[("host", "capcom.example.com"), ("origin", "https://console.example.com")]);
        assert!(origins.allows_websocket(&listed, None));
        let own = headers(&[("host", "capcom.example.com"), ("origin", "https://capcom.example.com")]);
        assert!(origins.allows_websocket(&own, None));
        let own_port = headers(&[("host", "127.0.0.1:8871"), ("origin", "http://127.0.0.1:8871")]);
        assert!(origins.allows_websocket(&own_port, None));
        let explicit_default = headers(&[("host", "capcom.example.com:443"), ("origin", "https://capcom.example.com")]);
        assert!(origins.allows_websocket(&explicit_default, None));
        let http2 = headers(&[("origin", "https://capcom.example.com")]);
        assert!(origins.allows_websocket(&http2, Some("capcom.example.com")));

        for (host, origin) in [
            ("capcom.example.com", "https://evil.test"),
            ("127.0.0.1:8871", "http://127.0.0.1:8872"),
            ("127.0.0.1:8871", "http://127.0.0.1"),
            ("capcom.example.com", "null"),
            ("capcom.example.com", "https://capcom.example.com.evil.test"),
        ] {
            assert!(!origins.allows_websocket(&headers(&[("host", host), ("origin", origin)]), None), "{origin}");
        }
        assert!(!AllowedOrigins::default().allows_websocket(&headers(&[("origin", "https://evil.test")]), None));
    }
}
