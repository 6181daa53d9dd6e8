//! A private PostgreSQL server for development and tests, started from the system's `initdb` and
//! `postgres` binaries.
//!
//! Decisions, and why:
//! - The server listens on 127.0.0.1 only, on a free port chosen at each start, with SCRAM password
//!   authentication; the password is generated at `initdb` time and kept in `<data>/pg-password` (mode 0600),
//!   so other local users cannot connect.
//! - PostgreSQL refuses to run as root. When capcom runs as root, `initdb` and `postgres` run as the
//!   `postgres` system user, which must be able to reach the cluster folder. If the data folder lies
//!   below a folder that user cannot traverse (a checkout under `/root`), the cluster is kept in
//!   `/var/tmp/capcom-pg-<hash of the data folder>` instead; nothing of the user's is re-permissioned.
//! - `postgres` runs in its own process group, so the terminal's Ctrl-C reaches capcom only: capcom drains
//!   HTTP requests first and then stops PostgreSQL itself (fast shutdown).
//! - The child is spawned from a dedicated thread that lives as long as the child, with a parent-death
//!   signal: if capcom dies without stopping it (SIGKILL, a test binary exiting), PostgreSQL shuts down
//!   too instead of lingering.
//! - That thread also restarts PostgreSQL, on the same port, whenever it exits without being asked to (an
//!   operator restarting it, a crash): capcom's pool reconnects and carries on without a restart of its
//!   own. Requests meanwhile are answered UNAVAILABLE.
//! - A PostgreSQL still running on the cluster when capcom starts (left by a capcom that was killed; it is
//!   shutting down on its parent-death signal) is waited for, and stopped if it does not go, before the
//!   new one starts: the cluster never has two servers, and the new start never fails on the lock file.

use std::fs;
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use nix::sys::signal::{Signal, kill};
use nix::unistd::{Pid, User, chown, geteuid};
use sha2::{Digest, Sha256};

/// Why the private server could not be started.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedPgError {
    /// The PostgreSQL server programs are not installed.
    #[error(
        "PostgreSQL server programs (initdb, postgres) were not found on PATH nor in /usr/lib/postgresql/<version>/bin. \
         Install them (Debian/Ubuntu: `apt-get install postgresql`), or set CAPCOM_PG_BIN_DIR to their folder, \
         or set DATABASE_URL to use an existing PostgreSQL server"
    )]
    BinariesMissing,
    /// Running as root, but there is no `postgres` system user to run the server as.
    #[error(
        "capcom runs as root and PostgreSQL refuses to; it would run the server as the `postgres` system user, \
         which does not exist. Install the postgresql package (it creates that user) or run capcom as a normal user"
    )]
    NoPostgresUser,
    /// A file-system step failed.
    #[error("{what} ({path}): {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// `initdb` or `postgres` failed; the text includes their output.
    #[error("{0}")]
    Server(String),
    /// Another capcom runs on the same data folder (it holds `<data>/capcom.lock`).
    #[error(
        "another capcom ({holder}) uses the data folder {data_dir}: stop it first, or give this one a \
         CAPCOM_DATA_DIR of its own"
    )]
    DataFolderInUse {
        /// The data folder.
        data_dir: PathBuf,
        /// What the lock file says of its holder (`pid N`), or `unknown pid`.
        holder: String,
    },
}

fn io_error(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> EmbeddedPgError + use<> {
    let path = path.to_owned();
    move |source| EmbeddedPgError::Io { what, path, source }
}

/// Superuser role created by `initdb`.
const SUPERUSER: &str = "capcom";

/// A running private PostgreSQL server. Dropping it stops the server.
#[derive(Debug)]
pub struct EmbeddedPostgres {
    cluster_dir: PathBuf,
    port: u16,
    password: String,
    /// The running postmaster's pid (changes when the supervisor restarts it).
    pid: Arc<AtomicI32>,
    /// Set by [`Self::stop`]: the supervisor then lets the postmaster go instead of restarting it.
    stopping: Arc<AtomicBool>,
    /// Signalled by the supervisor thread when the postmaster has exited for good; taken by [`Self::stop`].
    exited: Mutex<Option<mpsc::Receiver<()>>>,
    /// This process's hold on the data folder, released when it ends however it ends ([`lock_data_folder`]).
    _data_folder: Flock<fs::File>,
}

/// The pid in a cluster's `postmaster.pid`, if that process is a running `postgres`.
fn running_postmaster(cluster_dir: &Path) -> Option<Pid> {
    let content = fs::read_to_string(cluster_dir.join("postmaster.pid")).ok()?;
    let pid = content.lines().next()?.trim().parse::<i32>().ok()?;
    let command = fs::read(format!("/proc/{pid}/comm")).ok()?;
    let is_postgres = String::from_utf8_lossy(&command).trim() == "postgres";
    is_postgres.then(|| Pid::from_raw(pid))
}

/// Waits until process `pid` has gone, at most `limit`.
fn wait_gone(pid: Pid, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if kill(pid, None).is_err() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Makes sure no earlier postmaster runs on `cluster_dir`: one left by a capcom that was killed is shutting
/// down on its parent-death signal and is waited for; if it lingers it is asked to stop (fast, then
/// immediate shutdown). A `postmaster.pid` naming a process that is not `postgres` is stale and removed.
fn clear_earlier_server(cluster_dir: &Path) -> Result<(), EmbeddedPgError> {
    let pid_file = cluster_dir.join("postmaster.pid");
    if !pid_file.exists() {
        return Ok(());
    }
    let Some(pid) = running_postmaster(cluster_dir) else {
        let holder = fs::read_to_string(&pid_file).ok().and_then(|c| c.lines().next().map(|l| l.trim().to_owned()));
        let alive = holder.and_then(|p| p.parse::<i32>().ok()).is_some_and(|p| kill(Pid::from_raw(p), None).is_ok());
        if alive {
            // The pid was reused by an unrelated process: the file is stale.
            let _ = fs::remove_file(&pid_file);
        }
        return Ok(());
    };
    tracing::warn!(pid = pid.as_raw(), "an earlier PostgreSQL still runs on the cluster; waiting for it to stop");
    if wait_gone(pid, Duration::from_secs(20)) {
        return Ok(());
    }
    let _ = kill(pid, Signal::SIGINT);
    if wait_gone(pid, Duration::from_secs(20)) {
        return Ok(());
    }
    let _ = kill(pid, Signal::SIGQUIT);
    if wait_gone(pid, Duration::from_secs(10)) {
        return Ok(());
    }
    Err(EmbeddedPgError::Server(format!(
        "an earlier PostgreSQL (pid {pid}) on {} does not stop; stop it and start capcom again",
        cluster_dir.display()
    )))
}

/// Finds the folder holding `initdb` and `postgres`: the override, then PATH, then the newest
/// `/usr/lib/postgresql/<major>/bin`.
pub fn find_bin_dir(override_dir: Option<&Path>) -> Result<PathBuf, EmbeddedPgError> {
    let has_programs = |dir: &Path| dir.join("initdb").is_file() && dir.join("postgres").is_file();
    if let Some(dir) = override_dir {
        return if has_programs(dir) { Ok(dir.to_owned()) } else { Err(EmbeddedPgError::BinariesMissing) };
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if has_programs(&dir) {
                return Ok(dir);
            }
        }
    }
    let mut versioned: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let major = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            has_programs(&bin).then_some((major, bin))
        })
        .collect();
    versioned.sort();
    versioned.pop().map(|(_, dir)| dir).ok_or(EmbeddedPgError::BinariesMissing)
}

/// True when every folder above `path` can be traversed by `uid`.
fn reachable_by(uid: u32, gid: u32, path: &Path) -> bool {
    path.ancestors().skip(1).all(|dir| match fs::metadata(dir) {
        Ok(meta) => {
            let mode = meta.permissions().mode();
            (meta.uid() == uid && mode & 0o100 != 0) || (meta.gid() == gid && mode & 0o010 != 0) || mode & 0o001 != 0
        }
        Err(_) => false,
    })
}

fn random_hex(bytes: usize) -> Result<String, EmbeddedPgError> {
    let mut buffer = vec![0u8; bytes];
    getrandom::fill(&mut buffer).map_err(|e| EmbeddedPgError::Server(format!("no randomness: {e}")))?;
    Ok(buffer.iter().map(|b| format!("{b:02x}")).collect())
}

fn free_port() -> Result<u16, EmbeddedPgError> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(io_error("finding a free port", Path::new("127.0.0.1")))?;
    listener.local_addr().map(|a| a.port()).map_err(io_error("finding a free port", Path::new("127.0.0.1")))
}

/// Removes the file at `path`; a file already gone is fine.
fn remove_if_present(path: &Path) -> Result<(), EmbeddedPgError> {
    match fs::remove_file(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(io_error("removing", path)(error)),
        _ => Ok(()),
    }
}

/// Refuses, before capcom (as root) touches anything there, the cluster folder `cluster_dir` in the
/// world-writable `/var/tmp`, and its `.log` and `.pwfile` siblings, when one exists as a symbolic link or
/// belongs to someone other than root or the server's user `owner`: anyone can plant them at that
/// predictable path, and root would otherwise chmod and chown the target, append PostgreSQL's log to it,
/// or write initdb's password through it.
fn refuse_planted(cluster_dir: &Path, owner: &User) -> Result<(), EmbeddedPgError> {
    for path in [cluster_dir.to_owned(), cluster_dir.with_extension("log"), cluster_dir.with_extension("pwfile")] {
        let metadata = match fs::symlink_metadata(&path) {
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => return Err(io_error("checking", &path)(error)),
            Ok(metadata) => metadata,
        };
        if metadata.file_type().is_symlink() || ![0, owner.uid.as_raw()].contains(&metadata.uid()) {
            return Err(EmbeddedPgError::Server(format!(
                "{} is a symbolic link or belongs to another user, so capcom (running as root) will not use it: \
                 remove it, or give the postgres user a way into the data folder",
                path.display()
            )));
        }
    }
    Ok(())
}

/// Whether the marker `unfinished` says that the cluster at `cluster_dir` was left half-made: it names this
/// folder (a marker left for the `/var/tmp` folder says nothing of `<data>/pg`), and no server has ever
/// run on the folder (PostgreSQL writes `postmaster.opts` at every start, and capcom starts one only
/// after removing the marker). A marker that fails either test never empties anything.
fn unfinished_here(unfinished: &Path, cluster_dir: &Path) -> bool {
    fs::read_to_string(unfinished).is_ok_and(|named| Path::new(named.trim()) == cluster_dir)
        && !cluster_dir.join("postmaster.opts").exists()
}

/// Waits, at most `within`, until no process has `folder` as its working directory (PostgreSQL's
/// processes work in their cluster's folder). Errors: some still do then, named by pid.
fn wait_until_nothing_works_in(folder: &Path, within: Duration) -> Result<(), EmbeddedPgError> {
    let Ok(folder) = fs::canonicalize(folder) else { return Ok(()) };
    let deadline = Instant::now() + within;
    let mut first_look = true;
    loop {
        let working: Vec<String> = fs::read_dir("/proc")
            .map_err(io_error("reading", Path::new("/proc")))?
            .filter_map(|entry| {
                let entry = entry.ok()?;
                let pid = entry.file_name().to_str()?.parse::<u32>().ok()?;
                (fs::read_link(entry.path().join("cwd")).ok()? == folder).then(|| pid.to_string())
            })
            .collect();
        if working.is_empty() {
            return Ok(());
        }
        if first_look {
            tracing::info!(pids = %working.join(", "), folder = %folder.display(), "waiting for processes an interrupted first start left");
            first_look = false;
        }
        if Instant::now() >= deadline {
            return Err(EmbeddedPgError::Server(format!(
                "processes {} still work in {}, left by an interrupted first start: stop them and start again",
                working.join(", "),
                folder.display()
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Removes everything inside the folder `path` (a missing folder is fine), but not the folder, and never
/// through a symbolic link.
fn empty_folder(path: &Path) -> Result<(), EmbeddedPgError> {
    let entries = match fs::symlink_metadata(path) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(io_error("reading", path)(error)),
        Ok(metadata) if !metadata.is_dir() => {
            return Err(EmbeddedPgError::Server(format!(
                "{} should be the cluster folder of an interrupted start, but is not a folder",
                path.display()
            )));
        }
        Ok(_) => fs::read_dir(path).map_err(io_error("reading", path))?,
    };
    for entry in entries {
        let entry = entry.map_err(io_error("reading", path))?;
        let inside = entry.path();
        let removed = match entry.file_type() {
            Ok(kind) if kind.is_dir() => fs::remove_dir_all(&inside),
            _ => fs::remove_file(&inside),
        };
        removed.map_err(io_error("removing an interrupted start's file", &inside))?;
    }
    Ok(())
}

/// Takes the data folder for as long as this process runs: an advisory `flock` on the folder itself (so
/// that no file removed or replaced inside it can let a second holder in), which the kernel releases when
/// the process ends, even killed. Without it, a second capcom started on the same data folder took the
/// first one's PostgreSQL for a server left behind by a killed capcom, stopped it, and started its own on
/// the cluster. `<data>/capcom.lock` says which process holds the folder, for the refusal's message only;
/// it is never opened through a symbolic link.
fn lock_data_folder(data_dir: &Path) -> Result<Flock<fs::File>, EmbeddedPgError> {
    let folder = fs::File::open(data_dir).map_err(io_error("opening the data folder", data_dir))?;
    let holder_file = data_dir.join("capcom.lock");
    let lock = match Flock::lock(folder, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => lock,
        Err((_, Errno::EWOULDBLOCK)) => {
            let holder = fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&holder_file)
                .and_then(|mut file| {
                    let mut text = String::new();
                    std::io::Read::read_to_string(&mut file, &mut text).map(|_| text)
                })
                .unwrap_or_default();
            let holder = holder.trim().chars().take(40).collect::<String>();
            return Err(EmbeddedPgError::DataFolderInUse {
                data_dir: data_dir.to_owned(),
                holder: if holder.is_empty() { "unknown pid".to_owned() } else { holder },
            });
        }
        Err((_, errno)) => return Err(io_error("locking the data folder", data_dir)(std::io::Error::from(errno))),
    };
    let _ = fs::remove_file(&holder_file);
    let written = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&holder_file)
        .and_then(|mut file| file.write_all(format!("pid {}\n", std::process::id()).as_bytes()));
    if let Err(error) = written {
        tracing::warn!(%error, path = %holder_file.display(), "cannot say in the data folder which process holds it");
    }
    Ok(lock)
}

fn write_private_file(path: &Path, content: &str, owner: Option<&User>) -> Result<(), EmbeddedPgError> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(io_error("writing", path))?;
    file.write_all(content.as_bytes()).map_err(io_error("writing", path))?;
    if let Some(user) = owner {
        chown(path, Some(user.uid), Some(user.gid))
            .map_err(|e| io_error("changing owner", path)(std::io::Error::from(e)))?;
    }
    Ok(())
}

/// Applies the identity the server must run under to a command.
fn run_as(command: &mut Command, user: Option<&User>) {
    if let Some(user) = user {
        command.uid(user.uid.as_raw()).gid(user.gid.as_raw());
        // HOME of root would be unreadable; PostgreSQL does not need one.
        command.env("HOME", "/");
    }
}

impl EmbeddedPostgres {
    /// Starts (creating on first use) the cluster that belongs to `data_dir` and waits until it accepts
    /// connections.
    pub fn start(data_dir: &Path, bin_dir: &Path) -> Result<Self, EmbeddedPgError> {
        Self::start_on(data_dir, bin_dir, None)
    }

    /// Like [`Self::start`], on `port` when given (a server started again after [`Self::stop`] keeps its
    /// clients' URLs valid), else on a free port.
    pub fn start_on(data_dir: &Path, bin_dir: &Path, port: Option<u16>) -> Result<Self, EmbeddedPgError> {
        fs::create_dir_all(data_dir).map_err(io_error("creating the data folder", data_dir))?;
        let data_dir = fs::canonicalize(data_dir).map_err(io_error("resolving the data folder", data_dir))?;
        let data_folder = lock_data_folder(&data_dir)?;

        let server_user = if geteuid().is_root() {
            Some(User::from_name("postgres").ok().flatten().ok_or(EmbeddedPgError::NoPostgresUser)?)
        } else {
            None
        };
        let mut cluster_dir = data_dir.join("pg");
        if let Some(user) = &server_user {
            if !reachable_by(user.uid.as_raw(), user.gid.as_raw(), &cluster_dir) {
                let digest = Sha256::digest(data_dir.as_os_str().as_encoded_bytes());
                let tag: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
                cluster_dir = PathBuf::from(format!("/var/tmp/capcom-pg-{tag}"));
                tracing::info!(
                    cluster = %cluster_dir.display(),
                    "the postgres user cannot reach the data folder; keeping the PostgreSQL cluster in /var/tmp"
                );
                refuse_planted(&cluster_dir, user)?;
            }
        }

        let password_file = data_dir.join("pg-password");
        // Present from before a first initdb until its cluster's password is written (`init_cluster`).
        let unfinished = data_dir.join("pg-initializing");
        let password = if cluster_dir.join("PG_VERSION").is_file() && !unfinished_here(&unfinished, &cluster_dir) {
            fs::read_to_string(&password_file)
                .map_err(|_| {
                    EmbeddedPgError::Server(format!(
                        "{} holds a PostgreSQL cluster but its password file {} is missing; remove the cluster folder to start afresh",
                        cluster_dir.display(),
                        password_file.display()
                    ))
                })?
                .trim()
                .to_owned()
        } else {
            Self::init_cluster(&cluster_dir, bin_dir, server_user.as_ref(), &password_file, &unfinished)?
        };

        clear_earlier_server(&cluster_dir)?;
        let port = match port {
            Some(port) => port,
            None => free_port()?,
        };
        let log_path = cluster_dir.with_extension("log");
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&log_path)
            .map_err(io_error("opening the PostgreSQL log", &log_path))?;
        let log_err = log.try_clone().map_err(io_error("opening the PostgreSQL log", &log_path))?;

        let mut command = Command::new(bin_dir.join("postgres"));
        command
            .arg("-D")
            .arg(&cluster_dir)
            .args(["-p", &port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args(["-c", "unix_socket_directories="])
            .args(["-c", "max_connections=300"])
            .args(["-c", "fsync=off"])
            .args(["-c", "full_page_writes=off"])
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .process_group(0);
        run_as(&mut command, server_user.as_ref());
        // SAFETY: prctl is async-signal-safe and touches only the calling (child) process.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGINT) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // capcom turns transparent huge pages off for itself (`main.rs`), and children inherit
                // that: PostgreSQL keeps the system's setting. Ignored where the kernel lacks it.
                libc::prctl(libc::PR_SET_THP_DISABLE, 0, 0, 0, 0);
                Ok(())
            });
        }

        // The parent-death signal fires when the spawning *thread* exits, so spawn from a thread that
        // lives exactly as long as the child (and its restarts).
        let (pid_tx, pid_rx) = mpsc::channel();
        let (exit_tx, exit_rx) = mpsc::channel();
        let current_pid = Arc::new(AtomicI32::new(0));
        let stopping = Arc::new(AtomicBool::new(false));
        let ready = Arc::new(AtomicBool::new(false));
        let supervisor_pid = current_pid.clone();
        let supervisor_stopping = stopping.clone();
        let supervisor_ready = ready.clone();
        std::thread::Builder::new()
            .name("postgres-supervisor".into())
            .spawn(move || supervise(command, pid_tx, exit_tx, supervisor_pid, supervisor_stopping, supervisor_ready))
            .map_err(io_error("starting the supervisor thread", &cluster_dir))?;
        let raw_pid = pid_rx
            .recv()
            .map_err(|_| EmbeddedPgError::Server("the PostgreSQL supervisor thread died".into()))?
            .map_err(io_error("starting postgres", bin_dir))?;
        current_pid
            .store(i32::try_from(raw_pid).map_err(|_| EmbeddedPgError::Server("bad pid".into()))?, Ordering::SeqCst);

        let server = EmbeddedPostgres {
            cluster_dir,
            port,
            password,
            pid: current_pid,
            stopping,
            exited: Mutex::new(Some(exit_rx)),
            _data_folder: data_folder,
        };
        server.wait_ready(&log_path)?;
        ready.store(true, Ordering::SeqCst);
        Ok(server)
    }

    /// Makes a new cluster at `cluster_dir` and writes its superuser password to `password_file`.
    ///
    /// `unfinished` (in the data folder) names the cluster folder from before initdb starts until the
    /// password is written: a start stopped half-way (killed during initdb) leaves it, and the next start
    /// empties the half-made cluster folder (never a symbolic link, never another folder than the one named,
    /// never a cluster a server has run on: [`unfinished_here`]) and makes it again, instead of finding a
    /// cluster without its password. The folder itself is kept, so that it may be a mount point.
    fn init_cluster(
        cluster_dir: &Path,
        bin_dir: &Path,
        server_user: Option<&User>,
        password_file: &Path,
        unfinished: &Path,
    ) -> Result<String, EmbeddedPgError> {
        let interrupted = unfinished_here(unfinished, cluster_dir);
        write_private_file(unfinished, &cluster_dir.to_string_lossy(), None)?;
        // initdb reads the password from a file; it must be readable by the server user and is removed at once.
        let initdb_password_file = cluster_dir.with_extension("pwfile");
        remove_if_present(&initdb_password_file)?;
        if interrupted {
            // initdb dies with the capcom that ran it, but the PostgreSQL it was running (bootstrap and
            // single-user mode, working in the cluster folder) ends only when it reads the end of initdb's
            // script, a moment later; emptying the folder under it would race it.
            wait_until_nothing_works_in(cluster_dir, Duration::from_secs(30))?;
            empty_folder(cluster_dir)?;
        }
        fs::create_dir_all(cluster_dir).map_err(io_error("creating the cluster folder", cluster_dir))?;
        fs::set_permissions(cluster_dir, fs::Permissions::from_mode(0o700))
            .map_err(io_error("restricting the cluster folder", cluster_dir))?;
        if let Some(user) = server_user {
            chown(cluster_dir, Some(user.uid), Some(user.gid))
                .map_err(|e| io_error("changing owner", cluster_dir)(std::io::Error::from(e)))?;
        }
        let password = random_hex(24)?;
        write_private_file(&initdb_password_file, &password, server_user)?;
        let mut command = Command::new(bin_dir.join("initdb"));
        command
            .arg("-D")
            .arg(cluster_dir)
            .args(["-U", SUPERUSER, "-E", "UTF8", "--no-locale", "--auth=scram-sha-256"])
            .arg(format!("--pwfile={}", initdb_password_file.display()))
            .stdin(Stdio::null());
        run_as(&mut command, server_user);
        // initdb dies with this thread (which waits for it), so that a capcom killed during its first start
        // leaves no initdb writing into the cluster folder that the next start empties and makes again.
        // SAFETY: prctl is async-signal-safe and touches only the calling (child) process.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let output = command.output();
        let _ = fs::remove_file(&initdb_password_file);
        let output = output.map_err(io_error("running initdb", bin_dir))?;
        if !output.status.success() {
            return Err(EmbeddedPgError::Server(format!(
                "initdb failed: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            )));
        }
        write_private_file(password_file, &password, None)?;
        fs::remove_file(unfinished).map_err(io_error("removing", unfinished))?;
        Ok(password)
    }

    fn wait_ready(&self, log_path: &Path) -> Result<(), EmbeddedPgError> {
        // PostgreSQL writes "ready" into line 8 of postmaster.pid once it accepts connections (what
        // `pg_ctl -w` waits for).
        let pid_file = self.cluster_dir.join("postmaster.pid");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let has_exited = self.exited.lock().ok().and_then(|guard| guard.as_ref().map(|rx| rx.try_recv().is_ok()));
            {
                if has_exited == Some(true) {
                    let log = fs::read_to_string(log_path).unwrap_or_default();
                    let tail: Vec<&str> = log.lines().rev().take(15).collect();
                    let tail: Vec<&str> = tail.into_iter().rev().collect();
                    return Err(EmbeddedPgError::Server(format!(
                        "postgres exited during start-up; its log ({}) ends with:\n{}",
                        log_path.display(),
                        tail.join("\n")
                    )));
                }
            }
            if let Ok(content) = fs::read_to_string(&pid_file) {
                let lines: Vec<&str> = content.lines().collect();
                if lines.first().map(|l| l.trim()) == Some(&self.pid.load(Ordering::SeqCst).to_string())
                    && lines.get(7).is_some_and(|status| status.trim() == "ready")
                {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(EmbeddedPgError::Server(format!(
                    "postgres did not become ready within 60 s; see {}",
                    log_path.display()
                )));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Connection URL of database `database` as the superuser.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://{SUPERUSER}:{}@127.0.0.1:{}/{database}", self.password, self.port)
    }

    /// The port the server listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Folder of the cluster.
    pub fn cluster_dir(&self) -> &Path {
        &self.cluster_dir
    }

    /// The running postmaster's process id (it changes when PostgreSQL is restarted).
    pub fn pid(&self) -> i32 {
        self.pid.load(Ordering::SeqCst)
    }

    /// Stops the server (fast shutdown: open sessions are ended) and waits until it has exited.
    pub fn stop(&mut self) {
        let Some(exited) = self.exited.lock().ok().and_then(|mut guard| guard.take()) else { return };
        self.stopping.store(true, Ordering::SeqCst);
        let pid = Pid::from_raw(self.pid.load(Ordering::SeqCst));
        if kill(pid, Signal::SIGINT).is_err() {
            // Already gone (and the supervisor, seeing `stopping`, does not restart it).
            let _ = exited.recv_timeout(Duration::from_secs(10));
            return;
        }
        if exited.recv_timeout(Duration::from_secs(30)).is_err() {
            tracing::warn!("PostgreSQL did not stop within 30 s; sending SIGQUIT");
            let _ = kill(Pid::from_raw(self.pid.load(Ordering::SeqCst)), Signal::SIGQUIT);
            let _ = exited.recv_timeout(Duration::from_secs(10));
        }
    }
}

/// Runs `command` (the postmaster) and restarts it whenever it exits on its own once it has been ready
/// (`ready`) and while `stopping` is unset; the pause before a restart starts at 200 ms and doubles up to
/// 5 s while restarts come quickly. Reports the first pid on `pid_tx` and every later one in
/// `current_pid`; signals `exit_tx` once the postmaster has exited for good.
fn supervise(
    mut command: Command,
    pid_tx: mpsc::Sender<std::io::Result<u32>>,
    exit_tx: mpsc::Sender<()>,
    current_pid: Arc<AtomicI32>,
    stopping: Arc<AtomicBool>,
    ready: Arc<AtomicBool>,
) {
    let mut child = match command.spawn() {
        Ok(child) => {
            let _ = pid_tx.send(Ok(child.id()));
            child
        }
        Err(error) => {
            let _ = pid_tx.send(Err(error));
            return;
        }
    };
    let mut pause = Duration::from_millis(200);
    loop {
        let started = Instant::now();
        let status = child.wait();
        // Not ready yet: a failed start, reported by `wait_ready` from the log.
        if stopping.load(Ordering::SeqCst) || !ready.load(Ordering::SeqCst) {
            break;
        }
        if started.elapsed() > Duration::from_secs(30) {
            pause = Duration::from_millis(200);
        }
        tracing::warn!(?status, "PostgreSQL exited unexpectedly; restarting it");
        child = loop {
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_secs(5));
            if stopping.load(Ordering::SeqCst) {
                let _ = exit_tx.send(());
                return;
            }
            match command.spawn() {
                Ok(child) => break child,
                Err(error) => tracing::warn!(%error, "restarting PostgreSQL"),
            }
        };
        current_pid.store(i32::try_from(child.id()).unwrap_or_default(), Ordering::SeqCst);
        tracing::info!(pid = child.id(), "PostgreSQL restarted");
    }
    let _ = exit_tx.send(());
}

impl Drop for EmbeddedPostgres {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Creates database `name` (optionally as a copy of `template`) on the server at `admin_url`, unless it
/// exists.
pub async fn create_database_if_missing(
    admin_url: &str,
    name: &str,
    template: Option<&str>,
) -> Result<(), diesel::result::Error> {
    use diesel::sql_types::Text;
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};

    #[derive(diesel::QueryableByName)]
    struct Exists {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        exists: bool,
    }
    let mut conn = AsyncPgConnection::establish(admin_url)
        .await
        .map_err(|e| diesel::result::Error::QueryBuilderError(e.to_string().into()))?;
    let found: Exists = diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists")
        .bind::<Text, _>(name)
        .get_result(&mut conn)
        .await?;
    if !found.exists {
        // Identifiers cannot be bound; names here are capcom's own (checked to be plain identifiers).
        let plain = |s: &str| s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !plain(name) || !template.is_none_or(plain) {
            return Err(diesel::result::Error::QueryBuilderError("database names must be plain identifiers".into()));
        }
        let statement = match template {
            Some(template) => format!("CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""),
            None => format!("CREATE DATABASE \"{name}\""),
        };
        conn.batch_execute(&statement).await?;
    }
    Ok(())
}
