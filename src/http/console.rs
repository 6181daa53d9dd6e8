//! The web console (`console/`): capcom's own pages for people, built only on the public GraphQL API.
//! Served at `/` and `/console/` (and at `/invite`, the address invite mails link to) unless
//! `CAPCOM_CONSOLE=false`. Its files are built into the binary, like GraphiQL's, so that it works offline
//! and matches the API it was built with; with `CAPCOM_CONSOLE_DIR` (development) they are read from that
//! folder on every request instead, so edits show on reload without a rebuild.

use std::path::{Component, Path as FsPath};

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use crate::http::router::HttpState;

/// Declares the embedded files: name relative to `console/`, and its bytes.
macro_rules! embedded {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_bytes!(concat!("../../console/", $name)) as &[u8])),*]
    };
}

/// Every file of the console, as built into the binary. A unit test checks that this lists exactly the
/// files of `console/` (its README aside).
const FILES: &[(&str, &[u8])] = embedded![
    "index.html",
    "console.css",
    "js/api.js",
    "js/app.js",
    "js/dom.js",
    "js/live.js",
    "js/pages/account.js",
    "js/pages/dashboard.js",
    "js/pages/deployment.js",
    "js/pages/keys.js",
    "js/pages/organization.js",
    "js/pages/password.js",
    "js/pages/signin.js",
    "js/pages/system.js",
    "js/pages/users.js",
    "js/pages/workspace.js",
];

/// The console's policy: its own scripts, styles and images only (no inline script or style attribute
/// sheet, so injected markup cannot run), requests to this capcom only (HTTP and its WebSocket), no
/// plugins, no framing, and forms that never submit anywhere (every form is handled by script).
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn content_type(name: &str) -> Option<&'static str> {
    match FsPath::new(name).extension().and_then(|e| e.to_str()) {
        Some("html") => Some("text/html; charset=utf-8"),
        Some("js") => Some("text/javascript; charset=utf-8"),
        Some("css") => Some("text/css; charset=utf-8"),
        Some("svg") => Some("image/svg+xml"),
        Some("png") => Some("image/png"),
        _ => None,
    }
}

fn file(body: Vec<u8>, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Revalidated on every load: a new capcom binary brings a new console.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// Whether `name` is a plain relative path inside the console's folder: normal components only, none
/// hidden, so that a development folder never hands out anything above it or a dotfile.
fn plain_relative(name: &str) -> bool {
    !name.is_empty()
        && FsPath::new(name).components().all(|part| match part {
            Component::Normal(part) => part.to_str().is_some_and(|p| !p.starts_with('.')),
            _ => false,
        })
}

/// The file `name` of the console: from `CAPCOM_CONSOLE_DIR` when set, else the embedded copy.
async fn serve(state: &HttpState, name: &str) -> Response {
    let Some(kind) = content_type(name) else { return StatusCode::NOT_FOUND.into_response() };
    if let Some(dir) = &state.app.config.console_dir {
        if !plain_relative(name) {
            return StatusCode::NOT_FOUND.into_response();
        }
        return match tokio::fs::read(dir.join(name)).await {
            Ok(bytes) => file(bytes, kind),
            Err(_) => StatusCode::NOT_FOUND.into_response(),
        };
    }
    match FILES.iter().find(|(file_name, _)| *file_name == name) {
        Some((_, bytes)) => file(bytes.to_vec(), kind),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// `GET /console`: the console's files are addressed below `/console/`.
pub async fn redirect() -> Redirect {
    Redirect::permanent("/console/")
}

/// `GET /`, `GET /console/` and `GET /invite` (the invite mail's link: the page reads `token` from its
/// query string): the console's page. Which view it shows is decided in the browser.
pub async fn index(State(state): State<HttpState>) -> Response {
    serve(&state, "index.html").await
}

/// `GET /console/{*path}`: a script, style sheet or image of the console.
pub async fn asset(State(state): State<HttpState>, Path(name): Path<String>) -> Response {
    serve(&state, &name).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files_on_disk(dir: &FsPath, prefix: &str, found: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let name = format!("{prefix}{}", entry.file_name().to_str().unwrap());
            if entry.file_type().unwrap().is_dir() {
                files_on_disk(&entry.path(), &format!("{name}/"), found);
            } else if name != "README.md" {
                found.push(name);
            }
        }
    }

    #[test]
    fn every_file_of_the_console_folder_is_embedded() {
        let mut on_disk = Vec::new();
        files_on_disk(&FsPath::new(env!("CARGO_MANIFEST_DIR")).join("console"), "", &mut on_disk);
        on_disk.sort();
        let mut embedded: Vec<String> = FILES.iter().map(|(name, _)| (*name).to_owned()).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded, "list every file of console/ in FILES");
        assert!(FILES.iter().all(|(name, _)| content_type(name).is_some()));
    }

    #[test]
    fn only_plain_relative_names_are_read_from_a_development_folder() {
        assert!(plain_relative("js/app.js"));
        for name in ["", "../Cargo.toml", "/etc/passwd", "js/../../x.js", ".git/config", "js/.hidden.js"] {
            assert!(!plain_relative(name), "{name}");
        }
    }
}
