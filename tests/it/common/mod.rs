//! Test harness: one private PostgreSQL server per test binary, one fresh database per test (a copy of a
//! migrated template), and the real HTTP server on a loopback port.

use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};

use capcom::config::Config;
use capcom::db::embedded_pg::{EmbeddedPostgres, create_database_if_missing, find_bin_dir};
use capcom::state::{AppState, Clock};
use chrono::{Duration, Utc};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde_json::{Value, json};

pub mod browser;
pub mod oidc;
pub mod smtp;
pub mod standby;

const TEMPLATE: &str = "capcom_template";

struct TestPg {
    server: EmbeddedPostgres,
}

fn pg() -> &'static TestPg {
    static PG: OnceLock<TestPg> = OnceLock::new();
    PG.get_or_init(|| {
        // Set up on a plain thread: the caller may be inside a test's runtime, and this needs its own.
        std::thread::spawn(|| {
            remove_stale_clusters();
            let dir = std::env::temp_dir().join(format!("capcom-test-{}", std::process::id()));
            let bin_dir = pg_bin_dir();
            let server = EmbeddedPostgres::start(&dir, &bin_dir).expect("private PostgreSQL starts");
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
            runtime.block_on(async {
                create_database_if_missing(&server.url("postgres"), TEMPLATE, None).await.expect("template db");
                capcom::db::migrate::run_pending(&server.url(TEMPLATE)).await.expect("migrations");
            });
            TestPg { server }
        })
        .join()
        .expect("test PostgreSQL set-up")
    })
}

/// Removes clusters left by test binaries that are no longer running.
fn remove_stale_clusters() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix("capcom-test-")).and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !PathBuf::from(format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// The folder of the PostgreSQL programs the harness runs (`initdb`, `postgres`, and beside them
/// `pg_dump`, `pg_restore`): `CAPCOM_PG_BIN_DIR`, else where capcom itself would look.
pub fn pg_bin_dir() -> PathBuf {
    find_bin_dir(std::env::var_os("CAPCOM_PG_BIN_DIR").map(PathBuf::from).as_deref())
        .expect("PostgreSQL server binaries")
}

/// A PostgreSQL client program (`pg_dump`, `pg_restore`) of the same installation as the harness's server:
/// beside `postgres` in [`pg_bin_dir`], else beside the file that `postgres` links to (a folder may link only
/// the server programs), else from `PATH`.
pub fn pg_program(name: &str) -> PathBuf {
    let dir = pg_bin_dir();
    let linked =
        std::fs::canonicalize(dir.join("postgres")).ok().and_then(|server| server.parent().map(|d| d.join(name)));
    [Some(dir.join(name)), linked]
        .into_iter()
        .flatten()
        .find(|path| path.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}

/// URL of a new, empty database (no migrations).
pub async fn empty_database() -> String {
    let pg = pg();
    let name = format!("e_{}", uuid::Uuid::new_v4().simple());
    create_database_if_missing(&pg.server.url("postgres"), &name, None).await.expect("create db");
    pg.server.url(&name)
}

/// A clock the test moves by hand.
#[derive(Clone, Default)]
pub struct TestClock {
    offset_secs: Arc<AtomicI64>,
}

impl TestClock {
    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        self.offset_secs.fetch_add(by.num_seconds(), Ordering::SeqCst);
    }

    fn clock(&self) -> Clock {
        let offset = self.offset_secs.clone();
        Clock::from_fn(move || Utc::now() + Duration::seconds(offset.load(Ordering::SeqCst)))
    }
}

/// A running capcom on its own database.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// HTTP client.
    pub client: reqwest::Client,
    /// The server's state (keys, config, pool).
    pub state: AppState,
    /// URL of this test's database.
    pub db_url: String,
    /// The server's clock.
    pub clock: TestClock,
    /// The server's mailer (with `smtp_url` configured); dropping it stops it.
    pub mailer: Option<capcom::mail::Mailer>,
    /// The DNS the server asks for TXT records (tests have no DNS of their own).
    pub dns: capcom::dns::StaticTxt,
    /// The tests' own connection to the database ([`TestApp::count`], [`TestApp::text`]), opened once:
    /// PostgreSQL forks a process per connection, and opening one per probe was most of the matrix
    /// tests' time.
    sql: tokio::sync::Mutex<Option<AsyncPgConnection>>,
}

/// Default configuration for tests.
pub fn test_config() -> Config {
    let mut config = Config::try_from_args(["capcom"]).expect("default config");
    config.database_url = None;
    config.pool_size = 8;
    config.data_dir = std::env::temp_dir()
        .join(format!("capcom-test-{}", std::process::id()))
        .join("keys")
        .join(uuid::Uuid::new_v4().simple().to_string());
    config
}

impl TestApp {
    /// Starts capcom with the default test configuration.
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    /// Starts capcom after `configure` adjusted the configuration.
    pub async fn spawn_with(configure: impl FnOnce(&mut Config)) -> TestApp {
        let pg = pg();
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        create_database_if_missing(&pg.server.url("postgres"), &name, Some(TEMPLATE)).await.expect("test db");
        let db_url = pg.server.url(&name);
        let mut config = test_config();
        configure(&mut config);
        Self::spawn_on(config, db_url).await
    }

    /// Starts capcom on the database at `db_url`.
    pub async fn spawn_on(config: Config, db_url: String) -> TestApp {
        install_log_capture();
        let clock = TestClock::default();
        let mut state = capcom::app_state(config, &db_url, clock.clock()).expect("app state");
        let dns = capcom::dns::StaticTxt::default();
        state.dns = Arc::new(dns.clone());
        let mailer = capcom::start_mailer(&state, &db_url).expect("mailer");
        let times = capcom::http::server::ConnectionTimes::from_config(&state.config);
        let router = capcom::build_router(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(capcom::http::server::serve(
            listener,
            router,
            std::future::pending(),
            times,
            state.upgraded.clone(),
        ));
        TestApp { base, client: reqwest::Client::new(), state, db_url, clock, mailer, dns, sql: Default::default() }
    }

    /// Sends one GraphQL operation to `POST /v1`; `token` goes in `Authorization` without `Bearer`, as the
    /// CLI sends it. Returns the whole response body.
    pub async fn gql(&self, query: &str, variables: Value, token: Option<&str>) -> Value {
        let mut request =
            self.client.post(format!("{}/v1", self.base)).json(&json!({"query": query, "variables": variables}));
        if let Some(token) = token {
            request = request.header("Authorization", token);
        }
        let response = request.send().await.expect("request");
        assert_eq!(response.status(), 200, "GraphQL answers with HTTP 200");
        response.json().await.expect("JSON body")
    }

    /// Signs up; returns (token, user id).
    pub async fn sign_up(&self, email: &str, password: &str) -> (String, String) {
        let body = self
            .gql(
                "mutation($email: String!, $password: String!) { createUser(email: $email, password: $password) { user { id } token { value } } }",
                json!({"email": email, "password": password}),
                None,
            )
            .await;
        let token =
            body["data"]["createUser"]["token"]["value"].as_str().unwrap_or_else(|| panic!("sign-up failed: {body}"));
        let id = body["data"]["createUser"]["user"]["id"].as_str().expect("user id");
        (token.to_owned(), id.to_owned())
    }

    /// Signs in; returns the whole response.
    pub async fn sign_in(&self, identity: &str, password: &str) -> Value {
        self.gql(
            "mutation($identity: String, $password: String!) { createToken(identity: $identity, password: $password) { user { id username } token { value } } }",
            json!({"identity": identity, "password": password}),
            None,
        )
        .await
    }

    /// Runs a SQL query returning one `bigint` column named `n`.
    /// The value of the metric `name` (with its labels, as the text format writes them) as `/metrics` shows
    /// it now.
    pub async fn metric(&self, name: &str) -> f64 {
        let text = self.client.get(format!("{}/metrics", self.base)).send().await.unwrap().text().await.unwrap();
        text.lines()
            .find_map(|line| line.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
            .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
            .trim()
            .parse()
            .unwrap()
    }

    pub async fn count(&self, sql: &str) -> i64 {
        #[derive(QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let row: Row = self.query_one(sql).await;
        row.n
    }

    /// Runs `sql` for its one row on the tests' connection, opening it (again) when there is none or the
    /// last use failed (a test may restart the server or the database under it).
    async fn query_one<R: QueryableByName<diesel::pg::Pg> + Send + 'static>(&self, sql: &str) -> R {
        use diesel_async::RunQueryDsl;
        let mut held = self.sql.lock().await;
        for attempt in 0..2 {
            if held.is_none() {
                *held = Some(AsyncPgConnection::establish(&self.db_url).await.expect("connect"));
            }
            let Some(conn) = held.as_mut() else { continue };
            match diesel::sql_query(sql).get_result::<R>(conn).await {
                Ok(row) => return row,
                // Only a connection that broke (the server or the database restarted under the test) is
                // opened again; any other error would only happen twice.
                Err(
                    error @ (diesel::result::Error::BrokenTransactionManager
                    | diesel::result::Error::DatabaseError(
                        diesel::result::DatabaseErrorKind::ClosedConnection,
                        _,
                    )),
                ) if attempt == 0 => {
                    eprintln!("retrying on a new connection after: {error}");
                    *held = None;
                }
                Err(error) => panic!("query: {error}: {sql}"),
            }
        }
        unreachable!("the second attempt returns or panics")
    }
}

/// The `extensions.code` of the first error.
pub fn error_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"].as_str().unwrap_or_else(|| panic!("expected an error: {body}"))
}

/// The message of the first error.
pub fn error_message(body: &Value) -> &str {
    body["errors"][0]["message"].as_str().unwrap_or_else(|| panic!("expected an error: {body}"))
}

impl TestApp {
    /// Runs a SQL query returning one `text` column named `t` (used to snapshot rows as JSON).
    pub async fn text(&self, sql: &str) -> String {
        #[derive(QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
            t: Option<String>,
        }
        let row: Row = self.query_one(sql).await;
        row.t.unwrap_or_default()
    }

    /// Runs one statement on the tests' connection, outside any transaction; returns the number of rows it
    /// affected, or PostgreSQL's error message (for a statement the test expects to be refused).
    pub async fn execute(&self, sql: &str) -> Result<usize, String> {
        use diesel_async::RunQueryDsl;
        let mut held = self.sql.lock().await;
        if held.is_none() {
            *held = Some(AsyncPgConnection::establish(&self.db_url).await.expect("connect"));
        }
        let conn = held.as_mut().expect("opened above");
        diesel::sql_query(sql).execute(conn).await.map_err(|error| error.to_string())
    }

    /// The token of the newest invite mailed to `email`, read from the mail outbox (SPEC §4.4: tokens are
    /// delivered only by mail, never returned by the API). Panics when no invite mail was sent there.
    pub async fn invite_token_for(&self, email: &str) -> String {
        let body = self
            .text(&format!(
                "SELECT body_text AS t FROM mail_outbox WHERE recipient = '{}' AND body_text LIKE '%Invite token: %' ORDER BY created_at DESC, id DESC LIMIT 1",
                email.to_lowercase().replace('\'', "''")
            ))
            .await;
        let token = body
            .split("Invite token: ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no invite mail to {email}"));
        token.to_owned()
    }

    /// Every row an access-control operation could change, as text: equal snapshots mean nothing changed.
    pub async fn access_snapshot(&self) -> String {
        let mut parts = Vec::new();
        for table in ["users", "workspaces", "role_bindings", "invites", "emails", "mail_outbox", "audit_events"] {
            parts.push(
                self.text(&format!("SELECT coalesce(json_agg(t ORDER BY t::text), '[]')::text AS t FROM {table} t"))
                    .await,
            );
        }
        parts.join("\n")
    }

    /// Creates a workspace as `token`; returns its id.
    pub async fn create_workspace(&self, token: &str, label: &str) -> String {
        let body = self
            .gql(
                "mutation($label: String!) { createWorkspace(label: $label) { id } }",
                json!({"label": label}),
                Some(token),
            )
            .await;
        body["data"]["createWorkspace"]["id"].as_str().unwrap_or_else(|| panic!("createWorkspace: {body}")).to_owned()
    }

    /// Adds `email` to workspace `workspace` with `role`, as `token`.
    pub async fn add_to_workspace(&self, token: &str, workspace: &str, email: &str, role: &str) -> Value {
        self.gql(
            "mutation($w: Uuid!, $email: String!, $role: Role!) { workspaceAddUser(workspaceUuid: $w, email: $email, role: $role) { id } }",
            json!({"w": workspace, "email": email, "role": role}),
            Some(token),
        )
        .await
    }

    /// Gives `user` a system role, as `token`.
    pub async fn grant_system_role(&self, token: &str, user: &str, role: &str) -> Value {
        self.gql(
            "mutation($u: Uuid!, $role: Role!) { createSystemRoleBinding(userId: $u, role: $role) { role } }",
            json!({"u": user, "role": role}),
            Some(token),
        )
        .await
    }

    /// Signs up the first user (system admin, organization owner) and two more owners, so that users
    /// signed up afterwards are plain organization members. Needs public sign-ups. Returns the first
    /// user's token.
    pub async fn with_owners(&self) -> String {
        let (root, _) = self.sign_up("root@example.com", "correct horse battery").await;
        self.sign_up("owner2@example.com", "correct horse battery").await;
        self.sign_up("owner3@example.com", "correct horse battery").await;
        root
    }
}

impl TestApp {
    /// Creates a deployment in `workspace` as `token`; returns the whole `createDeployment` object.
    pub async fn create_deployment(&self, token: &str, workspace: &str, label: &str) -> Value {
        let body = self
            .gql(
                "mutation($w: Uuid!, $label: String!) { createDeployment(workspaceUuid: $w, label: $label) { id releaseName namespace } }",
                json!({"w": workspace, "label": label}),
                Some(token),
            )
            .await;
        assert!(body.get("errors").is_none(), "createDeployment: {body}");
        body["data"]["createDeployment"].clone()
    }

    /// Every deployment-related row, as text.
    pub async fn deployment_snapshot(&self) -> String {
        let mut parts = Vec::new();
        for table in ["deployments", "role_bindings", "audit_events", "deploys", "environment_variables"] {
            parts.push(
                self.text(&format!("SELECT coalesce(json_agg(t ORDER BY t::text), '[]')::text AS t FROM {table} t"))
                    .await,
            );
        }
        parts.join("\n")
    }
}

/// Everything the servers of this test binary logged so far (at debug level and above).
pub fn captured_logs() -> String {
    install_log_capture();
    LOGS.lock().map(|buffer| String::from_utf8_lossy(&buffer).into_owned()).unwrap_or_default()
}

static LOGS: std::sync::Mutex<Vec<u8>> = std::sync::Mutex::new(Vec::new());

struct Capture;

impl std::io::Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut buffer) = LOGS.lock() {
            buffer.extend_from_slice(bytes);
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Routes every log line of this test binary into [`LOGS`].
pub fn install_log_capture() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "debug,tokio_postgres=info,hyper=info,capcom::sql=trace",
            ))
            .with_ansi(false)
            .event_format(capcom::request_id::Lines::text(tracing_subscriber::fmt::format().with_ansi(false)))
            .with_writer(|| Capture)
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
}
