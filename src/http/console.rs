//! The example web console (`examples/console/`) at `/console/`, when `CAPCOM_CONSOLE` is on. Its files are
//! built into the binary, like GraphiQL's, so that it works offline and matches the API it was built with.
//! The same files work from any static server on another origin listed in `CAPCOM_CORS_ORIGINS`.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

const INDEX_HTML: &[u8] = include_bytes!("../../examples/console/index.html");
const CONSOLE_JS: &[u8] = include_bytes!("../../examples/console/console.js");
const CONSOLE_CSS: &[u8] = include_bytes!("../../examples/console/console.css");

/// The console's policy: its own scripts and styles only (no inline script, so injected markup cannot
/// run), requests to any capcom the user names, and no framing.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; connect-src 'self' http: https: ws: wss:; \
     img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn file(body: &'static [u8], content_type: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Revalidated on every load: a new capcom binary brings a new console.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

/// `GET /console`: the console's address ends with a slash (its files are relative to it).
pub async fn redirect() -> Redirect {
    Redirect::permanent("/console/")
}

/// `GET /console/`.
pub async fn index() -> Response {
    file(INDEX_HTML, "text/html; charset=utf-8")
}

/// `GET /console/{file}`.
pub async fn asset(Path(name): Path<String>) -> Response {
    match name.as_str() {
        "index.html" => index().await,
        "console.js" => file(CONSOLE_JS, "text/javascript; charset=utf-8"),
        "console.css" => file(CONSOLE_CSS, "text/css; charset=utf-8"),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}
