//! A real browser for the console tests: Debian's headless Chromium, driven over WebDriver by
//! `chromedriver` (package `chromium-driver`) through fantoccini. Each browser has its own empty profile,
//! and its driver and browser processes are killed when it is dropped, whatever the test's outcome.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use axum::Router;
use axum::extract::Path as UrlPath;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// Chromium's switches for a test: headless, as root (no sandbox), and no traffic of its own (the
/// background services would try to reach the internet).
const CHROMIUM_SWITCHES: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--disable-crash-reporter",
    "--window-size=1280,800",
];

const INSTALL_HINT: &str = "the console tests drive a real browser: install Debian's Chromium and its \
    WebDriver as the README says (apt-get install chromium chromium-driver)";

/// The first of `names` found on PATH.
fn on_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|candidate| std::fs::metadata(candidate).is_ok_and(|meta| meta.is_file()))
}

/// A headless Chromium with its WebDriver.
pub struct Browser {
    /// The WebDriver session.
    pub client: Client,
    // Dropped after the client and before the profile folder is removed.
    _driver: DriverGuard,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts `chromedriver` on a free loopback port and a Chromium session through it.
    pub async fn start() -> Browser {
        let driver_path =
            on_path(&["chromedriver"]).unwrap_or_else(|| panic!("chromedriver not found: {INSTALL_HINT}"));
        let chromium =
            on_path(&["chromium", "chromium-browser"]).unwrap_or_else(|| panic!("chromium not found: {INSTALL_HINT}"));
        let driver = Command::new(&driver_path)
            .arg("--port=0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            // Its own process group, so that the guard ends the browser processes it starts as well.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|error| panic!("{} does not start ({error}): {INSTALL_HINT}", driver_path.display()));
        let mut driver = DriverGuard(driver);
        let stdout = driver.0.stdout.take().expect("chromedriver's output");
        let port = tokio::task::spawn_blocking(move || {
            let mut lines = BufReader::new(stdout).lines();
            let mut port = None;
            for line in lines.by_ref() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split("started successfully on port ").nth(1) {
                    port = rest.trim_end_matches('.').trim().parse::<u16>().ok();
                    break;
                }
            }
            // Keep reading, so that the driver never blocks on a full pipe.
            std::thread::spawn(move || lines.for_each(drop));
            port
        })
        .await
        .expect("reading chromedriver's output");
        let port = port.unwrap_or_else(|| panic!("chromedriver did not say which port it listens on: {INSTALL_HINT}"));

        let profile = tempfile::tempdir().expect("a profile folder");
        let mut args: Vec<String> = CHROMIUM_SWITCHES.iter().map(|switch| (*switch).to_owned()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
            "goog:loggingPrefs": {"browser": "ALL"},
        });
        let Value::Object(capabilities) = capabilities else { unreachable!() };
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}/"))
            .await
            .unwrap_or_else(|error| panic!("no Chromium session ({error}): {INSTALL_HINT}"));
        Browser { client, _driver: driver, _profile: profile }
    }

    /// Opens `url`.
    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap_or_else(|error| panic!("open {url}: {error}"));
    }

    /// Waits (at most 20 s) for an element matching the CSS `selector`.
    pub async fn wait_for(&self, selector: &str) -> fantoccini::elements::Element {
        match self.client.wait().at_most(Duration::from_secs(20)).for_element(Locator::Css(selector)).await {
            Ok(element) => element,
            Err(error) => {
                let page = self.client.source().await.unwrap_or_default();
                panic!("no {selector} within 20 s ({error}); the page:\n{page}\nits log: {:?}", self.log().await)
            }
        }
    }

    /// Types `text` into the field matching `selector`, replacing what it held.
    pub async fn fill(&self, selector: &str, text: &str) {
        let field = self.wait_for(selector).await;
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    /// Clicks the element matching `selector`.
    pub async fn click(&self, selector: &str) {
        self.wait_for(selector).await.click().await.unwrap();
    }

    /// Whether the element matching `selector` is shown.
    pub async fn displayed(&self, selector: &str) -> bool {
        self.wait_for(selector).await.is_displayed().await.unwrap()
    }

    /// The text of the element matching `selector`.
    pub async fn text(&self, selector: &str) -> String {
        self.wait_for(selector).await.text().await.unwrap()
    }

    /// Runs `script` (a function body; `arguments[n]` are `args`) in the page.
    pub async fn run(&self, script: &str, args: Vec<Value>) -> Value {
        self.client.execute(script, args).await.unwrap_or_else(|error| panic!("script failed: {error}"))
    }

    /// Runs `script`, which calls `arguments[arguments.length - 1]` with its result when done.
    pub async fn run_async(&self, script: &str, args: Vec<Value>) -> Value {
        self.client.execute_async(script, args).await.unwrap_or_else(|error| panic!("script failed: {error}"))
    }

    /// What the browser's console received since the last call (`level`, `source`, `message` each).
    pub async fn log(&self) -> Vec<Value> {
        match self.client.issue_cmd(BrowserLog).await {
            Ok(Value::Array(entries)) => entries,
            other => panic!("the browser log: {other:?}"),
        }
    }

    /// A PNG of the window.
    pub async fn screenshot(&self) -> Vec<u8> {
        self.client.screenshot().await.expect("screenshot")
    }

    /// Sets the window's size in CSS pixels (a phone: 390 × 844).
    pub async fn resize(&self, width: u32, height: u32) {
        self.client.set_window_size(width, height).await.expect("window size");
    }

    /// Ends the session (Chromium exits), then the driver.
    pub async fn close(self) {
        let _ = self.client.close().await;
    }
}

/// The driver process; its whole process group (the driver and the browser it started) is killed when
/// this is dropped, also when a test panics.
struct DriverGuard(Child);

impl Drop for DriverGuard {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.0.id()) {
            let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
        let _ = self.0.wait();
    }
}

/// ChromeDriver's command for the browser's console log (`goog:loggingPrefs` turns it on).
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(&self, base_url: &url::Url, session_id: Option<&str>) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!("session/{}/se/log", session_id.unwrap_or_default()))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(json!({"type": "browser"}).to_string()))
    }
}

/// Serves the example console's files from `examples/console/` on a new loopback port, as any static
/// server would; returns its origin (`http://127.0.0.1:<port>`).
pub async fn serve_console_files() -> String {
    async fn file(name: Option<UrlPath<String>>) -> Response {
        let name = name.map(|UrlPath(name)| name).unwrap_or_else(|| "index.html".to_owned());
        let content_type = match Path::new(&name).extension().and_then(|e| e.to_str()) {
            Some("html") => "text/html; charset=utf-8",
            Some("js") => "text/javascript; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            _ => return StatusCode::NOT_FOUND.into_response(),
        };
        if name.contains('/') || name.starts_with('.') {
            return StatusCode::NOT_FOUND.into_response();
        }
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/console").join(&name);
        match tokio::fs::read(path).await {
            Ok(bytes) => ([(header::CONTENT_TYPE, content_type)], bytes).into_response(),
            Err(_) => StatusCode::NOT_FOUND.into_response(),
        }
    }
    let router = Router::new().route("/", get(|| file(None))).route("/{name}", get(|name| file(Some(name))));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let origin = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, router).await });
    origin
}
