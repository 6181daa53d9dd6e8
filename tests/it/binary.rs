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
    start_with(data_dir, port, &[], Stdio::null())
}

/// `capcom serve` as a new user runs it, with `settings` (variable, value) added and its stderr to `stderr`.
fn start_with(data_dir: &std::path::Path, port: u16, settings: &[(&str, &str)], stderr: Stdio) -> Child {
    Command::new(env!("CARGO_BIN_EXE_capcom"))
        .env_remove("DATABASE_URL")
        .env("CAPCOM_DATA_DIR", data_dir)
        .env("CAPCOM_LISTEN", format!("127.0.0.1:{port}"))
        .env("CAPCOM_PUBLIC_SIGNUPS", "false")
        .envs(settings.iter().copied())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap()
}

/// Waits (bounded) for a capcom that must refuse to start to exit; its exit status and stderr (piped). A
/// capcom that started instead would serve on: it fails the test (`refusal`) rather than hanging it.
fn refused(mut server: KillOnDrop, refusal: &str) -> (std::process::ExitStatus, String) {
    let deadline = Instant::now() + Duration::from_secs(90);
    let child = server.0.as_mut().unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "{refusal}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    (status, stderr)
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
        if child.try_wait().unwrap().is_some() {
            let mut stderr = String::new();
            if let Some(mut pipe) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
            }
            panic!("capcom exited before becoming ready: {stderr}");
        }
        assert!(Instant::now() < deadline, "capcom did not become ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Sends one GraphQL document to `POST /v1`.
async fn post(client: &reqwest::Client, base: &str, query: &str) -> serde_json::Value {
    post_as(client, base, None, query).await
}

/// Sends one GraphQL document to `POST /v1`, with `token` as the bearer when given.
async fn post_as(client: &reqwest::Client, base: &str, token: Option<&str>, query: &str) -> serde_json::Value {
    let mut request = client.post(format!("{base}/v1")).json(&json!({"query": query}));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap().json().await.unwrap()
}

/// Ada's token from `field` given `identity` (her address, as `email` or `identity`) and her password.
async fn ada_token(client: &reqwest::Client, base: &str, field: &str, identity: &str) -> String {
    let mutation = format!(
        "mutation {{ {field}({identity}: \"ada@example.com\", password: \"correct horse\") {{ token {{ value }} }} }}"
    );
    let body = post(client, base, &mutation).await;
    body["data"][field]["token"]["value"].as_str().unwrap_or_else(|| panic!("a token: {body}")).to_owned()
}

/// Signs up ada@example.com (the first account: the system admin) and returns her token.
async fn sign_up(client: &reqwest::Client, base: &str) -> String {
    ada_token(client, base, "createUser", "email").await
}

/// Signs ada@example.com in (her account must exist) and returns the token.
async fn sign_in(client: &reqwest::Client, base: &str) -> String {
    ada_token(client, base, "createToken", "identity").await
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
    sign_up(&client, &base).await;
    let postgres = postmaster_pid(data.path());
    assert!(process_exists(postgres));
    interrupt_and_wait(child).await;
    assert!(!process_exists(postgres), "the PostgreSQL capcom started is gone");

    // A second start reuses the same data.
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = start(data.path(), port);
    wait_ready(&client, &base, &mut child).await;
    sign_in(&client, &base).await;
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
        "CAPCOM_RUNTIMES",
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

/// Stops the server it holds when dropped (Ctrl-C, so that it stops its PostgreSQL too; killed after 10 s):
/// a failed assertion must not leave it running, holding its port, its PostgreSQL and what its parent left
/// open.
struct KillOnDrop(Option<Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGINT);
            let deadline = Instant::now() + Duration::from_secs(10);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Listening sockets on `port` in `/proc/net/tcp` (state `0A` is LISTEN; the port is hexadecimal).
fn listening_sockets(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let wanted = format!(":{port:04X}");
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.len() > 3 && fields[1].ends_with(&wanted) && fields[3] == "0A"
        })
        .count()
}

/// `CAPCOM_RUNTIMES=3` (docs/operations.md, "Runtimes"): three sockets listen on the one address, requests on
/// many connections (spread over the sockets by the kernel) are all answered, and Ctrl-C still stops the
/// server and its PostgreSQL cleanly.
#[tokio::test]
async fn several_runtimes_share_the_address_and_stop_on_sigint() {
    let data = tempfile::Builder::new().prefix("capcom-bin-").tempdir_in(std::env::temp_dir()).unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let settings = [("CAPCOM_RUNTIMES", "3"), ("CAPCOM_POOL_SIZE", "4")];
    let mut server = KillOnDrop(Some(start_with(data.path(), port, &settings, Stdio::null())));
    // Bounded: a runtime that accepts and never answers fails the test instead of hanging it.
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    wait_ready(&client, &base, server.0.as_mut().unwrap()).await;
    assert_eq!(listening_sockets(port), 3, "one socket per runtime");

    // A second capcom started by mistake on the same address is refused, as with one runtime, instead of
    // joining the sockets and taking a share of the connections.
    let other = tempfile::Builder::new().prefix("capcom-bin-").tempdir_in(std::env::temp_dir()).unwrap();
    let second = KillOnDrop(Some(start_with(other.path(), port, &[("CAPCOM_RUNTIMES", "2")], Stdio::piped())));
    let (status, stderr) = refused(second, "a second capcom on the address kept running");
    assert!(!status.success() && stderr.contains("Address already in use"), "{status}: {stderr}");
    assert_eq!(listening_sockets(port), 3, "the first capcom's sockets only");

    let token = sign_up(&client, &base).await;
    // Each request on a connection of its own, all at once: with three sockets, 48 connections all landing
    // on one socket would be a 1-in-3^47 chance, so every runtime serves some of them.
    let requests = (0..48).map(|_| {
        let (base, token) = (base.clone(), token.clone());
        async move {
            let client =
                reqwest::Client::builder().pool_max_idle_per_host(0).timeout(Duration::from_secs(30)).build().unwrap();
            let response = client
                .post(format!("{base}/v1"))
                .bearer_auth(token)
                .json(&json!({"query": "{ self { username } }"}))
                .send()
                .await
                .unwrap();
            response.json::<serde_json::Value>().await.unwrap()
        }
    });
    for body in futures_util::future::join_all(requests).await {
        assert_eq!(body["data"]["self"]["username"], "ada@example.com", "{body}");
    }
    // The pool is split between the runtimes (2 + 1 + 1 connections), never grown by them, and each
    // runtime opened connections of its own share: a runtime drawing on another's share (all on shard 0,
    // which holds 2) would leave fewer than 3 open.
    let metrics = client.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.lines().any(|line| line == "capcom_db_pool_max_connections{database=\"primary\"} 4"), "{metrics}");
    let open: f64 = metrics
        .lines()
        .filter(|line| line.starts_with("capcom_db_pool_connections{database=\"primary\""))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(open >= 3.0, "every runtime opened connections of its own share: {metrics}");

    let postgres = postmaster_pid(data.path());
    interrupt_and_wait(server.0.take().unwrap()).await;
    assert!(!process_exists(postgres), "the PostgreSQL capcom started is gone");
    assert_eq!(listening_sockets(port), 0, "every socket is closed");
}

/// More runtimes than pool connections is refused at start, naming both settings, before anything is
/// started (docs/operations.md, "Runtimes").
#[test]
fn more_runtimes_than_connections_is_refused() {
    let data = tempfile::Builder::new().prefix("capcom-bin-").tempdir_in(std::env::temp_dir()).unwrap();
    let settings = [("CAPCOM_RUNTIMES", "5"), ("CAPCOM_POOL_SIZE", "4")];
    let server = KillOnDrop(Some(start_with(data.path(), free_port(), &settings, Stdio::piped())));
    let (status, stderr) = refused(server, "capcom started with more runtimes than connections");
    assert!(!status.success());
    assert!(stderr.contains("CAPCOM_RUNTIMES (5) is larger than CAPCOM_POOL_SIZE (4)"), "{stderr}");
    assert!(!data.path().join("pg").exists(), "no PostgreSQL was set up for a server that cannot start");
}

/// A client that never finishes its request's headers (slowloris) is disconnected once
/// `CAPCOM_HEADER_TIMEOUT_MS` has passed, and does not hold up Ctrl-C (docs/operations.md, "Stopping"):
/// before, it held its socket for good, and the stop waited for it. The bounds (10 s) are well under
/// hyper's own default (30 s) and the stop's drain time (33 s), so that neither can pass for the setting.
#[tokio::test]
async fn a_client_that_never_finishes_its_headers_neither_keeps_its_connection_nor_delays_the_stop() {
    use std::io::{Read, Write};
    let data = tempfile::Builder::new().prefix("capcom-bin-").tempdir_in(std::env::temp_dir()).unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let settings = [("CAPCOM_HEADER_TIMEOUT_MS", "1500")];
    let mut server = KillOnDrop(Some(start_with(data.path(), port, &settings, Stdio::null())));
    let client = reqwest::Client::new();
    wait_ready(&client, &base, server.0.as_mut().unwrap()).await;

    let slow = |port: u16| {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.write_all(b"POST /v1 HTTP/1.1\r\nHost: capcom\r\nX-Slow: ").unwrap();
        // Bounded: a connection kept open fails the test instead of hanging it.
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        stream
    };
    let mut first = slow(port);
    let mut answer = Vec::new();
    let closed = first.read_to_end(&mut answer);
    assert!(closed.is_ok(), "capcom closed the connection of a client that never finished its headers: {closed:?}");

    // Another such client is open when Ctrl-C arrives: the stop completes all the same.
    let _second = slow(port);
    let postgres = postmaster_pid(data.path());
    let mut child = server.0.take().unwrap();
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            server.0 = Some(child);
            panic!("capcom still waits for a client that never finishes its headers");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status}");
    assert!(!process_exists(postgres), "the PostgreSQL capcom started is gone");
}

/// A first start killed while initdb runs leaves nothing that stops the next start: the half-made cluster is
/// made again (docs/operations.md, "The private PostgreSQL"). Before, it left a cluster without its password
/// file, and the next start refused to run.
#[tokio::test]
async fn a_start_killed_during_initdb_does_not_stop_the_next() {
    let data = tempfile::Builder::new().prefix("capcom-bin-").tempdir_in(std::env::temp_dir()).unwrap();
    let first = KillOnDrop(Some(start(data.path(), free_port())));
    let capcom = first.0.as_ref().unwrap().id() as i32;
    // Killed once initdb has begun the cluster (its PG_VERSION is among the first files it writes; bounded:
    // initdb runs for a second or more).
    let deadline = Instant::now() + Duration::from_secs(60);
    while !data.path().join("pg/PG_VERSION").exists() {
        assert!(Instant::now() < deadline, "capcom never ran initdb");
        std::thread::sleep(Duration::from_millis(1));
    }
    let initdb = initdb_of(capcom).expect("initdb runs");
    kill(Pid::from_raw(capcom), Signal::SIGKILL).unwrap();
    drop(first);
    // initdb, orphaned, ends on its own (at its next line of progress, on the closed pipe).
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::read_to_string(format!("/proc/{initdb}/stat")).is_ok_and(|stat| !stat.contains(") Z ")) {
        assert!(Instant::now() < deadline, "initdb did not end");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut server = KillOnDrop(Some(start_with(data.path(), port, &[], Stdio::piped())));
    wait_ready(&client, &base, server.0.as_mut().unwrap()).await;
    sign_up(&client, &base).await;
    let left: Vec<_> = std::fs::read_dir(data.path()).unwrap().map(|entry| entry.unwrap().file_name()).collect();
    assert!(!data.path().join("pg.pwfile").exists() && !data.path().join("pg-initializing").exists(), "{left:?}");
    interrupt_and_wait(server.0.take().unwrap()).await;

    // A marker naming this cluster, planted (or left) next to a cluster a server has run on, empties
    // nothing: ada's account is still there.
    let cluster = std::fs::canonicalize(data.path().join("pg")).unwrap();
    std::fs::write(data.path().join("pg-initializing"), cluster.to_string_lossy().as_bytes()).unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = KillOnDrop(Some(start_with(data.path(), port, &[], Stdio::piped())));
    wait_ready(&client, &base, server.0.as_mut().unwrap()).await;
    sign_in(&client, &base).await;
    interrupt_and_wait(server.0.take().unwrap()).await;
}

/// The initdb process whose parent is `parent`, if one runs.
fn initdb_of(parent: i32) -> Option<i32> {
    std::fs::read_dir("/proc").unwrap().filter_map(Result::ok).find_map(|entry| {
        let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
        let (name, rest) = stat.split_once(") ")?;
        let ppid: i32 = rest.split_whitespace().nth(1)?.parse().ok()?;
        (name.ends_with("(initdb") && ppid == parent).then_some(pid)
    })
}

/// `capcom export-schema | head`: a reader that stops reading (here, one gone before anything is written)
/// ends the command quietly with success, as for any Unix filter, instead of a panic.
#[test]
fn export_schema_into_a_closed_pipe_exits_quietly() {
    // Close-on-exec: a capcom another test starts meanwhile must not inherit (and hold open) the read end.
    let (reader, writer) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    drop(reader);
    let output = Command::new(env!("CARGO_BIN_EXE_capcom"))
        .arg("export-schema")
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success() && stderr.is_empty(), "{}: {stderr}", output.status);
}

/// Ctrl-C with a WebSocket subscription running: the session gets a close frame 1001 ("going away")
/// instead of a dropped connection, and the change listener it started stops with the server, without
/// a warning that it lost its database (docs/operations.md, "Stopping").
#[tokio::test]
async fn a_stop_closes_websocket_sessions_and_the_change_listener_quietly() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let data = tempfile::Builder::new().prefix("capcom-bin-").tempdir_in(std::env::temp_dir()).unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = KillOnDrop(Some(start_with(data.path(), port, &[], Stdio::piped())));
    let client = reqwest::Client::new();
    wait_ready(&client, &base, server.0.as_mut().unwrap()).await;
    let token = sign_up(&client, &base).await;
    let organization =
        post_as(&client, &base, Some(&token), "mutation { createOrganization(name: \"Acme\") { id } }").await;
    let organization = organization["data"]["createOrganization"]["id"].as_str().expect("an organization").to_owned();

    let mut request = format!("ws://127.0.0.1:{port}/ws").into_client_request().unwrap();
    request.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let send = |message: serde_json::Value| Message::Text(message.to_string().into());
    socket.send(send(json!({"type": "connection_init", "payload": {"authorization": token}}))).await.unwrap();
    let subscribe = json!({"id": "1", "type": "subscribe", "payload": {
        "query": format!("subscription {{ auditEventAdded(organizationUuid: \"{organization}\") {{ id }} }}")
    }});
    socket.send(send(subscribe)).await.unwrap();
    assert_eq!(next(&mut socket).await["type"], "connection_ack");
    // The subscription is running once an event written after it reaches it. Its listener may still be
    // opening when the first change commits (that event is then not for it), so changes are made until one
    // arrives (bounded: ten changes, two seconds each).
    let mut event = json!(null);
    for attempt in 0..10 {
        let rename = format!(
            "mutation {{ updateOrganization(organizationUuid: \"{organization}\", payload: {{ name: \"Acme {attempt}\" }}) {{ id }} }}"
        );
        let renamed = post_as(&client, &base, Some(&token), &rename).await;
        assert!(renamed["errors"].is_null(), "{renamed}");
        if let Ok(message) = tokio::time::timeout(Duration::from_secs(2), next(&mut socket)).await {
            event = message;
            break;
        }
    }
    assert_eq!(event["type"], "next", "{event}");

    let mut child = server.0.take().unwrap();
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    let closed = next(&mut socket).await;
    assert_eq!(closed, json!({"type": "closed", "code": 1001, "reason": "capcom is stopping"}));
    let status = tokio::task::spawn_blocking(move || {
        let status = child.wait().unwrap();
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        (status, stderr)
    })
    .await
    .unwrap();
    let (status, stderr) = status;
    assert!(status.success(), "{status}: {stderr}");
    assert!(!stderr.contains("lost its database connection"), "{stderr}");
}

type WebSocket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next text message as JSON, `{"type": "closed", "code", "reason"}` for a close frame, or
/// `{"type": "dropped"}` when the connection ended without one; bounded (20 s).
async fn next(socket: &mut WebSocket) -> serde_json::Value {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    loop {
        match tokio::time::timeout(Duration::from_secs(20), socket.next()).await.expect("a message in time") {
            Some(Ok(Message::Text(text))) => return serde_json::from_str(&text).unwrap(),
            Some(Ok(Message::Close(frame))) => {
                let (code, reason) = frame.map(|f| (u16::from(f.code), f.reason.to_string())).unwrap_or_default();
                return json!({"type": "closed", "code": code, "reason": reason});
            }
            Some(Ok(_)) => continue,
            other => return json!({"type": "dropped", "detail": format!("{other:?}")}),
        }
    }
}

/// A second capcom started on a data folder a running one uses (here on another port, so that the address
/// does not refuse it first) is refused at once, naming the first one, and leaves the first one's
/// PostgreSQL alone (docs/operations.md, "The private PostgreSQL"). Before, it stopped that PostgreSQL as
/// one left behind by a killed capcom, and started its own on the cluster.
#[tokio::test]
async fn a_second_capcom_on_the_same_data_folder_is_refused_and_leaves_the_first_alone() {
    let data = tempfile::Builder::new().prefix("capcom-bin-").tempdir_in(std::env::temp_dir()).unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut first = KillOnDrop(Some(start(data.path(), port)));
    wait_ready(&client, &base, first.0.as_mut().unwrap()).await;
    let postgres = postmaster_pid(data.path());

    let second = KillOnDrop(Some(start_with(data.path(), free_port(), &[], Stdio::piped())));
    let (status, stderr) = refused(second, "a second capcom on the data folder kept running");
    let holder = format!("pid {}", first.0.as_ref().unwrap().id());
    assert!(!status.success() && stderr.contains("uses the data folder") && stderr.contains(&holder), "{stderr}");
    // The lock is on the folder, not the file that names its holder: removing that file lets no one in.
    std::fs::remove_file(data.path().join("capcom.lock")).unwrap();
    let third = KillOnDrop(Some(start_with(data.path(), free_port(), &[], Stdio::piped())));
    let (status, stderr) = refused(third, "a capcom on the data folder kept running once the lock file was removed");
    assert!(!status.success() && stderr.contains("uses the data folder"), "{stderr}");
    assert_eq!(postmaster_pid(data.path()), postgres, "the first capcom's PostgreSQL is the one running");
    assert!(process_exists(postgres));
    sign_up(&client, &base).await;
    interrupt_and_wait(first.0.take().unwrap()).await;
}

/// As root, with a data folder the postgres user cannot reach, the cluster goes to a predictable path in
/// the world-writable /var/tmp. A symbolic link planted there is refused before capcom touches anything
/// (docs/operations.md, "The private PostgreSQL"): before, root chmodded and chowned its target and made the
/// cluster there. Not root, capcom never uses /var/tmp and there is nothing to attack.
#[test]
fn a_symbolic_link_planted_in_var_tmp_is_refused() {
    use sha2::Digest;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    if !nix::unistd::geteuid().is_root() {
        return;
    }
    let data = tempfile::Builder::new().prefix("capcom-bin-").tempdir_in(std::env::temp_dir()).unwrap();
    std::fs::set_permissions(data.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let canonical = std::fs::canonicalize(data.path()).unwrap();
    let digest = sha2::Sha256::digest(canonical.as_os_str().as_encoded_bytes());
    let tag: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    let planted = std::path::PathBuf::from(format!("/var/tmp/capcom-pg-{tag}"));
    let victim = tempfile::Builder::new().prefix("capcom-victim-").tempdir_in(std::env::temp_dir()).unwrap();
    std::fs::set_permissions(victim.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink(victim.path(), &planted).unwrap();
    struct Unplant(std::path::PathBuf);
    impl Drop for Unplant {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    let _unplant = Unplant(planted.clone());

    let server = KillOnDrop(Some(start_with(data.path(), free_port(), &[], Stdio::piped())));
    let (status, stderr) = refused(server, "capcom used a symbolic link planted in /var/tmp");
    assert!(!status.success() && stderr.contains("is a symbolic link or belongs to another user"), "{stderr}");
    let after = std::fs::metadata(victim.path()).unwrap();
    assert_eq!((after.mode() & 0o777, after.uid()), (0o755, 0), "the link's target is untouched");
    assert_eq!(std::fs::read_dir(victim.path()).unwrap().count(), 0, "nothing was made in it");
}
