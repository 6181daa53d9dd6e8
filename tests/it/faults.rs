//! Faults under a bounded loopback load of mixed reads and writes: PostgreSQL restarted (a server given by
//! `DATABASE_URL`, and capcom's private one), and capcom killed with SIGKILL mid-mutation and started
//! again. Every write capcom acknowledged is found afterwards, nothing is half-applied, no request is
//! answered INTERNAL or hangs past its deadline, and capcom recovers by itself.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use capcom::db::embedded_pg::{EmbeddedPostgres, create_database_if_missing, find_bin_dir};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};

use crate::common::{TestApp, test_config};

/// Deadline capcom is configured with in these tests; a request taking longer than this plus a margin
/// counts as hung.
const REQUEST_TIMEOUT_MS: u64 = 3_000;

/// What the load saw.
#[derive(Default)]
struct Observed {
    /// Ids of workspaces whose creation was acknowledged.
    acknowledged: Vec<String>,
    /// Error codes (and `HUNG` for requests past the deadline), counted.
    codes: BTreeMap<String, usize>,
}

struct Load {
    observed: Arc<Mutex<Observed>>,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    /// Starts `writers` tasks creating workspaces and `readers` tasks listing them, each at most 5000
    /// requests, pausing briefly after an error.
    fn start(base: &str, token: &str, writers: usize, readers: usize) -> Load {
        let observed = Arc::new(Mutex::new(Observed::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let client =
            reqwest::Client::builder().timeout(Duration::from_millis(REQUEST_TIMEOUT_MS + 4_000)).build().unwrap();
        let mut tasks = Vec::new();
        for task in 0..writers + readers {
            let (client, observed, stop) = (client.clone(), observed.clone(), stop.clone());
            let (url, token) = (format!("{base}/v1"), token.to_owned());
            tasks.push(tokio::spawn(async move {
                for n in 0..5000 {
                    if AtomicBool::load(&stop, Ordering::SeqCst) {
                        return;
                    }
                    let body = if task < writers {
                        json!({"query": "mutation($l: String!) { createWorkspace(label: $l) { id } }",
                               "variables": {"l": format!("load {task}-{n}")}})
                    } else {
                        json!({"query": "{ workspaces { id label } }"})
                    };
                    let reply = client.post(&url).header("Authorization", &token).json(&body).send().await;
                    let reply: Option<Value> = match reply {
                        Ok(response) => response.json().await.ok(),
                        Err(error) if error.is_timeout() => Some(json!({"errors": [{"extensions": {"code": "HUNG"}}]})),
                        // capcom itself is down (the SIGKILL test): not an answer.
                        Err(_) => None,
                    };
                    let mut failed = reply.is_none();
                    if let Some(reply) = reply {
                        let mut observed = observed.lock().unwrap();
                        if let Some(id) = reply["data"]["createWorkspace"]["id"].as_str() {
                            observed.acknowledged.push(id.to_owned());
                        }
                        if let Some(code) = reply["errors"][0]["extensions"]["code"].as_str() {
                            *observed.codes.entry(code.to_owned()).or_default() += 1;
                            failed = true;
                        }
                    }
                    if failed {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }));
        }
        Load { observed, stop, tasks }
    }

    fn acknowledged(&self) -> usize {
        self.observed.lock().unwrap().acknowledged.len()
    }

    /// Waits until `more` further writes were acknowledged (at most 60 s).
    async fn wait_for_writes(&self, more: usize) {
        let target = self.acknowledged() + more;
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.acknowledged() < target {
            assert!(Instant::now() < deadline, "the load made no progress: {:?}", self.observed.lock().unwrap().codes);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn finish(self) -> Observed {
        self.stop.store(true, Ordering::SeqCst);
        for task in self.tasks {
            task.await.unwrap();
        }
        Arc::try_unwrap(self.observed).ok().unwrap().into_inner().unwrap()
    }
}

/// Polls `url` until it answers `status` (at most `limit`); returns how long that took.
async fn wait_for_status(url: &str, status: u16, limit: Duration) -> Duration {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    let started = Instant::now();
    loop {
        if let Ok(response) = client.get(url).send().await {
            if response.status() == status {
                return started.elapsed();
            }
        }
        assert!(started.elapsed() < limit, "{url} did not answer {status} within {limit:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[derive(QueryableByName)]
struct Text {
    #[diesel(sql_type = diesel::sql_types::Text)]
    t: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Every acknowledged workspace is in the database, and every workspace is whole: it has an admin and
/// its creation's audit event (both written in the transaction that created it).
async fn check_database(url: &str, observed: &Observed) {
    let mut conn = AsyncPgConnection::establish(url).await.unwrap();
    let rows: Vec<Text> = diesel::sql_query("SELECT id::text AS t FROM workspaces").load(&mut conn).await.unwrap();
    let stored: HashSet<String> = rows.into_iter().map(|row| row.t).collect();
    let missing: Vec<&String> = observed.acknowledged.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
    let half_applied: Count = diesel::sql_query(
        "SELECT count(*) AS n FROM workspaces w
         WHERE NOT EXISTS (SELECT 1 FROM role_bindings b WHERE b.workspace_id = w.id AND b.role = 'WORKSPACE_ADMIN')
            OR NOT EXISTS (SELECT 1 FROM audit_events e WHERE e.target_id = w.id AND e.action = 'workspace.create')",
    )
    .get_result(&mut conn)
    .await
    .unwrap();
    assert_eq!(half_applied.n, 0, "workspaces without their admin or audit event");
    let orphans: Count = diesel::sql_query(
        "SELECT count(*) AS n FROM audit_events e WHERE e.action = 'workspace.create'
         AND NOT EXISTS (SELECT 1 FROM workspaces w WHERE w.id = e.target_id)",
    )
    .get_result(&mut conn)
    .await
    .unwrap();
    assert_eq!(orphans.n, 0, "audit events of changes that are not there");
}

/// Only UNAVAILABLE may be answered while the database is away: never INTERNAL, never a hang.
fn check_codes(observed: &Observed) {
    for (code, count) in &observed.codes {
        assert_eq!(code, "UNAVAILABLE", "{count} answers with {code}: {:?}", observed.codes);
    }
}

async fn sign_up(base: &str) -> String {
    let client = reqwest::Client::new();
    let body: Value = client
        .post(format!("{base}/v1"))
        .json(&json!({"query": "mutation { createUser(email: \"root@example.com\", password: \"correct horse battery\") { token { value } } }"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["data"]["createUser"]["token"]["value"].as_str().unwrap_or_else(|| panic!("sign-up: {body}")).to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_url_server_restarted_under_load_loses_no_acknowledged_write() {
    let dir = tempfile::Builder::new().prefix("capcom-fault-").tempdir_in(std::env::temp_dir()).unwrap();
    let bin_dir = find_bin_dir(std::env::var_os("CAPCOM_PG_BIN_DIR").map(PathBuf::from).as_deref()).unwrap();
    let data_dir = dir.path().to_owned();
    let bin = bin_dir.clone();
    let mut server =
        tokio::task::spawn_blocking(move || EmbeddedPostgres::start(&data_dir, &bin)).await.unwrap().unwrap();
    let port = server.port();
    create_database_if_missing(&server.url("postgres"), "capcom", None).await.unwrap();
    let url = server.url("capcom");
    capcom::db::migrate::run_pending(&url).await.unwrap();
    let mut config = test_config();
    config.request_timeout_ms = REQUEST_TIMEOUT_MS;
    let app = TestApp::spawn_on(config, url.clone()).await;
    let token = sign_up(&app.base).await;

    let load = Load::start(&app.base, &token, 3, 2);
    load.wait_for_writes(20).await;
    // The operator restarts PostgreSQL: down for a while, then back on the same address.
    tokio::task::spawn_blocking(move || server.stop()).await.unwrap();
    wait_for_status(&format!("{}/readyz", app.base), 503, Duration::from_secs(10)).await;
    let before = load.observed.lock().unwrap().codes.get("UNAVAILABLE").copied().unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(20);
    while load.observed.lock().unwrap().codes.get("UNAVAILABLE").copied().unwrap_or_default() < before + 5 {
        assert!(Instant::now() < deadline, "requests are answered while the database is down");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let data_dir = dir.path().to_owned();
    let restarted_at = Instant::now();
    let server = tokio::task::spawn_blocking(move || EmbeddedPostgres::start_on(&data_dir, &bin_dir, Some(port)))
        .await
        .unwrap()
        .unwrap();
    wait_for_status(&format!("{}/readyz", app.base), 200, Duration::from_secs(30)).await;
    load.wait_for_writes(20).await;
    eprintln!(
        "DATABASE_URL server: capcom wrote again {:?} after PostgreSQL was started again",
        restarted_at.elapsed()
    );
    let observed = load.finish().await;
    check_codes(&observed);
    check_database(&url, &observed).await;
    drop(server);
}

/// The capcom binary on `data_dir` (private PostgreSQL), listening on `port`.
fn start_binary(data_dir: &Path, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_capcom"))
        .env_remove("DATABASE_URL")
        .env("CAPCOM_DATA_DIR", data_dir)
        .env("CAPCOM_LISTEN", format!("127.0.0.1:{port}"))
        .env("CAPCOM_REQUEST_TIMEOUT_MS", REQUEST_TIMEOUT_MS.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The pid of the private PostgreSQL's postmaster and the URL of capcom's database on it.
fn private_server(data_dir: &Path) -> (i32, String) {
    let pid_file = std::fs::read_to_string(data_dir.join("pg/postmaster.pid")).unwrap();
    let lines: Vec<&str> = pid_file.lines().collect();
    let password = std::fs::read_to_string(data_dir.join("pg-password")).unwrap();
    (
        lines[0].trim().parse().unwrap(),
        format!("postgres://capcom:{}@127.0.0.1:{}/capcom", password.trim(), lines[3].trim()),
    )
}

/// Postmasters running on the cluster (a backend's command line no longer names the data folder).
fn postmasters_on(cluster: &Path) -> usize {
    let needle = cluster.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().chars().all(|c| c.is_ascii_digit()))
        .filter(|entry| {
            let command = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let command = String::from_utf8_lossy(&command);
            command.split('\0').next().is_some_and(|program| program.ends_with("postgres")) && command.contains(&needle)
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_private_server_restarted_under_load_is_brought_back_by_capcom() {
    let data = tempfile::Builder::new().prefix("capcom-fault-").tempdir_in(std::env::temp_dir()).unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = start_binary(data.path(), port);
    wait_for_status(&format!("{base}/readyz"), 200, Duration::from_secs(90)).await;
    let token = sign_up(&base).await;

    let load = Load::start(&base, &token, 3, 2);
    load.wait_for_writes(20).await;
    let (postmaster, url) = private_server(data.path());
    // Stopped from outside (as `pg_ctl restart -m fast` would): capcom starts it again by itself.
    kill(Pid::from_raw(postmaster), Signal::SIGINT).unwrap();
    let stopped_at = Instant::now();
    load.wait_for_writes(20).await;
    eprintln!("private server: capcom wrote again {:?} after PostgreSQL was stopped", stopped_at.elapsed());
    let observed = load.finish().await;
    check_codes(&observed);
    let (restarted, _) = private_server(data.path());
    assert_ne!(restarted, postmaster, "a new postmaster runs");
    assert_eq!(postmasters_on(&data.path().join("pg")), 1, "exactly one server on the cluster");
    check_database(&url, &observed).await;
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    tokio::task::spawn_blocking(move || child.wait()).await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capcom_killed_mid_mutation_restarts_on_its_data_with_every_acknowledged_write() {
    let data = tempfile::Builder::new().prefix("capcom-fault-").tempdir_in(std::env::temp_dir()).unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = start_binary(data.path(), port);
    wait_for_status(&format!("{base}/readyz"), 200, Duration::from_secs(90)).await;
    let token = sign_up(&base).await;

    let load = Load::start(&base, &token, 3, 1);
    load.wait_for_writes(30).await;
    kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL).unwrap();
    tokio::task::spawn_blocking(move || child.wait()).await.unwrap().unwrap();
    let observed_before = load.acknowledged();

    // Started again at once, while the old private server is still shutting down.
    let mut child = start_binary(data.path(), port);
    wait_for_status(&format!("{base}/readyz"), 200, Duration::from_secs(90)).await;
    assert_eq!(postmasters_on(&data.path().join("pg")), 1, "exactly one server on the cluster");
    load.wait_for_writes(10).await;
    let observed = load.finish().await;
    assert!(observed.acknowledged.len() >= observed_before + 10);
    check_codes(&observed);
    let (_, url) = private_server(data.path());
    check_database(&url, &observed).await;
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    tokio::task::spawn_blocking(move || child.wait()).await.unwrap().unwrap();
}
