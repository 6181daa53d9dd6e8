//! A private primary PostgreSQL and a streaming hot standby of it, for the read-routing tests: the primary
//! is started like every test server (capcom's `EmbeddedPostgres`), the standby is a `pg_basebackup -R`
//! of it (which writes `standby.signal` and `primary_conninfo`) started the same way on its own port.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;

use capcom::db::embedded_pg::{EmbeddedPostgres, create_database_if_missing, find_bin_dir};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};

/// Name of capcom's database on the pair.
pub const DATABASE: &str = "capcom";

/// A primary and its standby; both stop when dropped.
pub struct Replicated {
    /// The primary (taken out to stop it).
    pub primary: Option<EmbeddedPostgres>,
    /// The standby (kept running while the pair lives).
    _standby: EmbeddedPostgres,
    /// URL of capcom's database on the primary.
    pub primary_url: String,
    /// URL of capcom's database on the standby.
    pub standby_url: String,
    _dir: tempfile::TempDir,
}

fn as_server_user(command: &mut Command) {
    if nix::unistd::geteuid().is_root() {
        let user = nix::unistd::User::from_name("postgres").unwrap().expect("a postgres system user");
        command.uid(user.uid.as_raw()).gid(user.gid.as_raw()).env("HOME", "/");
    }
}

fn password_of(url: &str) -> String {
    let rest = url.strip_prefix("postgres://").unwrap();
    let credentials = rest.split('@').next().unwrap();
    credentials.split_once(':').unwrap().1.to_owned()
}

/// Starts the pair, with capcom's migrations applied on the primary (and so on the standby). Blocking:
/// call it from `spawn_blocking`.
pub fn start_pair() -> Replicated {
    let bin_dir = find_bin_dir(std::env::var_os("CAPCOM_PG_BIN_DIR").map(PathBuf::from).as_deref()).unwrap();
    let dir = tempfile::Builder::new().prefix("capcom-standby-").tempdir_in(std::env::temp_dir()).unwrap();
    // The server runs as `postgres` when the tests run as root: it must reach the folders.
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let primary = EmbeddedPostgres::start(&dir.path().join("primary"), &bin_dir).unwrap();
    let admin_url = primary.url("postgres");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        create_database_if_missing(&admin_url, DATABASE, None).await.unwrap();
        capcom::db::migrate::run_pending(&primary.url(DATABASE)).await.unwrap();
    });

    let standby_data = dir.path().join("standby");
    std::fs::create_dir_all(&standby_data).unwrap();
    if nix::unistd::geteuid().is_root() {
        let user = nix::unistd::User::from_name("postgres").unwrap().unwrap();
        nix::unistd::chown(&standby_data, Some(user.uid), Some(user.gid)).unwrap();
    }
    let cluster = standby_data.join("pg");
    // `initdb` and `postgres` may be links on PATH to the server's folder, which also holds pg_basebackup.
    let server_dir = std::fs::canonicalize(bin_dir.join("postgres")).unwrap().parent().unwrap().to_owned();
    let program = [server_dir.join("pg_basebackup"), bin_dir.join("pg_basebackup")]
        .into_iter()
        .find(|path| path.is_file())
        .unwrap_or_else(|| PathBuf::from("pg_basebackup"));
    let mut backup = Command::new(program);
    backup.arg("-D").arg(&cluster).args(["-R", "-X", "stream", "-c", "fast", "-d", &admin_url]);
    as_server_user(&mut backup);
    let output = backup.output().unwrap();
    assert!(output.status.success(), "pg_basebackup: {}", String::from_utf8_lossy(&output.stderr));
    std::fs::write(standby_data.join("pg-password"), password_of(&admin_url)).unwrap();
    let standby = EmbeddedPostgres::start(&standby_data, &bin_dir).unwrap();
    let standby_url = standby.url(DATABASE);
    let primary_url = primary.url(DATABASE);
    Replicated { primary: Some(primary), _standby: standby, primary_url, standby_url, _dir: dir }
}

/// Runs `sql` on the database at `url`.
pub async fn execute(url: &str, sql: &str) {
    let mut conn = AsyncPgConnection::establish(url).await.unwrap();
    conn.batch_execute(sql).await.unwrap();
}

/// Waits (at most 30 s) until the standby has replayed everything the primary has written so far.
pub async fn wait_replayed(pair: &Replicated) {
    let mut primary = AsyncPgConnection::establish(&pair.primary_url).await.unwrap();
    let target: Text =
        diesel::sql_query("SELECT pg_current_wal_insert_lsn()::text AS t").get_result(&mut primary).await.unwrap();
    let mut standby = AsyncPgConnection::establish(&pair.standby_url).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let caught_up: Flag = diesel::sql_query("SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS f")
            .bind::<diesel::sql_types::Text, _>(&target.t)
            .get_result(&mut standby)
            .await
            .unwrap();
        if caught_up.f {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "the standby did not catch up");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[derive(QueryableByName)]
struct Text {
    #[diesel(sql_type = diesel::sql_types::Text)]
    t: String,
}

#[derive(QueryableByName)]
struct Flag {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    f: bool,
}

/// Stops the primary (fast shutdown) and waits until it is gone.
pub async fn stop_primary(pair: &mut Replicated) {
    let mut primary = pair.primary.take().expect("the primary runs");
    tokio::task::spawn_blocking(move || primary.stop()).await.unwrap();
}
