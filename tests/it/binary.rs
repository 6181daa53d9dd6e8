//! The real binary, as a new user runs it: no DATABASE_URL, a fresh data folder.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::json;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start(data_dir: &std::path::Path, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_capcom"))
        .env_remove("DATABASE_URL")
        .env("CAPCOM_DATA_DIR", data_dir)
        .env("CAPCOM_LISTEN", format!("127.0.0.1:{port}"))
        .env("CAPCOM_PUBLIC_SIGNUPS", "false")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Polls `/readyz` until it answers 200 (bounded: PostgreSQL's initdb takes a few seconds).
async fn wait_ready(client: &reqwest::Client, base: &str, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Ok(response) = client.get(format!("{base}/readyz")).send().await {
            if response.status() == 200 {
                return;
            }
        }
        assert!(child.try_wait().unwrap().is_none(), "capcom exited before becoming ready");
        assert!(Instant::now() < deadline, "capcom did not become ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Sends one GraphQL document to `POST /v1`.
async fn post(client: &reqwest::Client, base: &str, query: &str) -> serde_json::Value {
    let response = client.post(format!("{base}/v1")).json(&json!({"query": query})).send().await.unwrap();
    response.json().await.unwrap()
}

fn postmaster_pid(data_dir: &std::path::Path) -> i32 {
    let content = std::fs::read_to_string(data_dir.join("pg/postmaster.pid")).unwrap();
    content.lines().next().unwrap().trim().parse().unwrap()
}

async fn interrupt_and_wait(mut child: Child) {
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap()).await.unwrap();
    assert!(status.success(), "capcom exits cleanly on SIGINT: {status}");
}

fn process_exists(pid: i32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[tokio::test]
async fn cargo_run_starts_its_own_postgres_and_stops_it_on_sigint() {
    let data = tempfile::Builder::new().prefix("capcom-bin-").tempdir_in(std::env::temp_dir()).unwrap();
    let client = reqwest::Client::new();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");

    let mut child = start(data.path(), port);
    wait_ready(&client, &base, &mut child).await;
    let body = post(
        &client,
        &base,
        "mutation { createUser(email: \"ada@example.com\", password: \"correct horse\") { user { id } } }",
    )
    .await;
    assert!(body["data"]["createUser"]["user"]["id"].is_string(), "{body}");
    let postgres = postmaster_pid(data.path());
    assert!(process_exists(postgres));
    interrupt_and_wait(child).await;
    assert!(!process_exists(postgres), "the PostgreSQL capcom started is gone");

    // A second start reuses the same data.
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = start(data.path(), port);
    wait_ready(&client, &base, &mut child).await;
    let body = post(
        &client,
        &base,
        "mutation { createToken(identity: \"ada@example.com\", password: \"correct horse\") { token { value } } }",
    )
    .await;
    assert!(body["data"]["createToken"]["token"]["value"].is_string(), "{body}");
    let postgres = postmaster_pid(data.path());
    interrupt_and_wait(child).await;
    assert!(!process_exists(postgres));
}

#[tokio::test]
async fn missing_postgres_binaries_say_what_to_install() {
    let data = tempfile::Builder::new().prefix("capcom-bin-").tempdir_in(std::env::temp_dir()).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_capcom"))
        .env_remove("DATABASE_URL")
        .env("CAPCOM_DATA_DIR", data.path())
        .env("CAPCOM_PG_BIN_DIR", data.path().join("no-such-folder"))
        .env("CAPCOM_LISTEN", format!("127.0.0.1:{}", free_port()))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("apt-get install postgresql"), "{stderr}");
}

#[test]
fn help_documents_every_option_and_its_variable() {
    let output = Command::new(env!("CARGO_BIN_EXE_capcom")).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    for variable in [
        "DATABASE_URL",
        "CAPCOM_LISTEN",
        "CAPCOM_DATA_DIR",
        "CAPCOM_PUBLIC_SIGNUPS",
        "CAPCOM_JWT_SECRET",
        "CAPCOM_REQUEST_TIMEOUT_MS",
        "CAPCOM_MAX_TOKENS",
        "CAPCOM_WS_INIT_TIMEOUT_MS",
        "CAPCOM_PASSWORD_HASHING_CONCURRENCY",
        "CAPCOM_LOGIN_MAX_FAILURES_PER_ADDRESS",
        "CAPCOM_CORS_ORIGINS",
        "CAPCOM_CONSOLE",
        "CAPCOM_METRICS_LISTEN",
        "DATABASE_READ_URL",
        "CAPCOM_READ_YOUR_WRITES_MS",
        "CAPCOM_SMTP_URL",
        "CAPCOM_MAIL_FROM",
        "CAPCOM_SMTP_TIMEOUT_MS",
        "CAPCOM_MAIL_POLL_MS",
        "CAPCOM_MAIL_RETRY_MS",
        "CAPCOM_MAIL_RETRY_MAX_MS",
        "CAPCOM_MAIL_MAX_ATTEMPTS",
    ] {
        assert!(help.contains(variable), "--help mentions {variable}");
    }
    for command in ["serve", "migrate", "export-schema", "seed"] {
        assert!(help.contains(command), "--help lists {command}");
    }
}
