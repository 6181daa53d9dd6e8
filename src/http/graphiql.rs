//! GraphiQL, served entirely by capcom (its JavaScript and CSS are embedded in the binary) so that it works
//! without internet access. The bundled files are GraphiQL 3 and React 18 as published on npm, with their
//! licenses beside them in `assets/graphiql/`.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

const GRAPHIQL_JS: &[u8] = include_bytes!("../../assets/graphiql/graphiql.min.js");
const GRAPHIQL_CSS: &[u8] = include_bytes!("../../assets/graphiql/graphiql.min.css");
const REACT_JS: &[u8] = include_bytes!("../../assets/graphiql/react.production.min.js");
const REACT_DOM_JS: &[u8] = include_bytes!("../../assets/graphiql/react-dom.production.min.js");

/// The page's policy (docs/security.md, "Browser pages"): scripts only from capcom's own files (the page
/// has no inline script: `/graphiql/start.js` reads the endpoint from the page), so markup injected into the page
/// cannot run and cannot read the tokens GraphiQL keeps in the browser's storage; requests only to this
/// capcom (HTTP and its WebSocket); style sheets from capcom and inline (the page's own `<style>`, and
/// those GraphiQL's dialogs add), fonts and images from capcom or inline data; no plugins, no framing, no
/// form submitted anywhere.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

/// Starts GraphiQL on the page's `#graphiql` element, for the endpoint its `data-endpoint` names.
const START_JS: &str = r##"(function () {
  const root = document.getElementById("graphiql");
  const wsScheme = location.protocol === "https:" ? "wss:" : "ws:";
  const fetcher = GraphiQL.createFetcher({
    url: root.dataset.endpoint,
    subscriptionUrl: wsScheme + "//" + location.host + "/ws",
  });
  const defaultQuery = "# Sign in with createToken, then put the token in the Headers tab:\n" +
    "# { \"Authorization\": \"Bearer <token>\" }\n\nquery {\n  appConfig { version }\n}\n";
  ReactDOM.createRoot(root).render(
    React.createElement(GraphiQL, { fetcher, defaultQuery, shouldPersistHeaders: true })
  );
})();
"##;

/// The GraphiQL page for the endpoint at `endpoint` (one of the GraphQL routes' own paths), with its
/// [`CONTENT_SECURITY_POLICY`] (`nosniff`, like every answer, comes from `crate::http::router`).
pub fn page(endpoint: &str) -> Response {
    let endpoint: String =
        endpoint.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_' | '.')).collect();
    let html = format!(
        r##"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>capcom GraphiQL</title>
  <link rel="stylesheet" href="/graphiql/graphiql.min.css">
  <style>body {{ margin: 0; height: 100vh; }} #graphiql {{ height: 100vh; }}</style>
</head>
<body>
  <div id="graphiql" data-endpoint="{endpoint}">Loading GraphiQL…</div>
  <script src="/graphiql/react.production.min.js"></script>
  <script src="/graphiql/react-dom.production.min.js"></script>
  <script src="/graphiql/graphiql.min.js"></script>
  <script src="/graphiql/start.js"></script>
</body>
</html>"##
    );
    let mut response = Html(html).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// One of the embedded files. The libraries are cached for a day; `start.js` is revalidated on every load,
/// as it goes with the page of the binary that serves it.
pub async fn asset(Path(file): Path<String>) -> Response {
    const DAY: &str = "public, max-age=86400";
    let (body, content_type, cache) = match file.as_str() {
        "graphiql.min.js" => (GRAPHIQL_JS, "text/javascript; charset=utf-8", DAY),
        "graphiql.min.css" => (GRAPHIQL_CSS, "text/css; charset=utf-8", DAY),
        "react.production.min.js" => (REACT_JS, "text/javascript; charset=utf-8", DAY),
        "react-dom.production.min.js" => (REACT_DOM_JS, "text/javascript; charset=utf-8", DAY),
        "start.js" => (START_JS.as_bytes(), "text/javascript; charset=utf-8", "no-cache"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, cache)], body).into_response()
}
