//! Serving runtimes (docs/operations.md, "Runtimes"). By default capcom serves on one multi-threaded Tokio
//! runtime. With `CAPCOM_RUNTIMES=N` it serves on N threads, each running a single-threaded runtime with its
//! own listening socket on the same address (`SO_REUSEPORT`: the kernel spreads new connections over the
//! sockets), its own shard of the database pools and its own share of the GraphQL turns
//! ([`crate::db::DbPool`]). A request then runs from its first byte to its reply on one thread: its task,
//! its connection's driver and its DataLoaders' tasks do not wake one another across threads, which on a
//! small request costs a sizeable share of its CPU (bench/README.md, "Results, part 8").
//!
//! The thread that serves ([`Listeners::serve`]) is runtime 0 (shard 0): the background work started
//! before it (sweeper, mailer, `/metrics` listener, change events) runs beside its requests. Caches, the
//! persisted-query store and the WebSocket bounds are shared by all runtimes.
//!
//! The trade-off: a connection stays on the runtime that accepted it, so a request that computes for long
//! delays the other requests of its runtime instead of being taken over by an idle core.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpSocket};
use tokio::runtime::Runtime;
use tokio::sync::{mpsc, oneshot, watch};

use crate::db::DbPool;
use crate::http::server::{ConnectionTimes, Upgraded, serve};

/// The runtime the serving thread runs: multi-threaded for `count` 0, single-threaded (runtime 0 of
/// `count`) otherwise. Errors: the runtime cannot be made (threads, the I/O driver).
pub fn runtime(count: usize) -> std::io::Result<Runtime> {
    match count {
        0 => tokio::runtime::Builder::new_multi_thread().enable_all().build(),
        _ => shard_runtime(0),
    }
}

/// A single-threaded runtime whose threads (the one that runs it, set by the caller, and its blocking pool)
/// use shard `index`.
fn shard_runtime(index: usize) -> std::io::Result<Runtime> {
    DbPool::serve_this_thread_from(index);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name(format!("capcom-serve-{index}-blocking"))
        .on_thread_start(move || DbPool::serve_this_thread_from(index))
        .build()
}

/// The listening sockets of every serving runtime, all bound before any of them serves.
pub struct Listeners {
    first: TcpListener,
    /// Sockets of runtimes 1.., handed to their threads.
    others: Vec<std::net::TcpListener>,
    address: SocketAddr,
}

impl Listeners {
    /// Binds `listen` once per runtime of `count` (once for 0 and 1), sharing it with `SO_REUSEPORT` when
    /// there are several; with port 0, the others take the port the first was given. Runs inside runtime 0
    /// (the first socket belongs to it). Errors: the address is in use or cannot be bound.
    pub fn bind(listen: SocketAddr, count: usize) -> std::io::Result<Listeners> {
        let shared = count > 1;
        if shared && listen.port() != 0 {
            // Sockets with SO_REUSEPORT would join those of another process of this user already on the
            // address (a second capcom started by mistake) and take a share of its connections: a bind
            // without it first refuses the address in use, as with one runtime. A process binding after this
            // check can still join (docs/operations.md, "Runtimes").
            drop(bind(listen, false)?);
        }
        let first = bind(listen, shared)?;
        let address = first.local_addr()?;
        let others = (1..count).map(|_| bind(address, shared)?.into_std()).collect::<Result<_, _>>()?;
        Ok(Listeners { first, others, address })
    }

    /// The address the sockets listen on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Serves `router` on every socket: the first on the calling runtime, each other on a thread of its own
    /// (runtime 1, 2, …), until `shutdown` completes; then every runtime drains its connections within
    /// `times.drain` and closes the rest, the WebSocket sessions of `upgraded` are told to close, and this
    /// returns once all have ended ([`crate::http::server::serve`]). A runtime that ends early (its thread failed or panicked) stops them
    /// all: capcom does not run short-handed. Errors: a thread could not be started, a runtime ended early,
    /// or serving failed.
    pub async fn serve(
        self,
        router: axum::Router,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
        times: ConnectionTimes,
        upgraded: Arc<Upgraded>,
    ) -> std::io::Result<()> {
        let Listeners { first, others, .. } = self;
        let (stop, stopped) = watch::channel(false);
        let (ended, mut ends) = mpsc::unbounded_channel();
        let mut threads = Vec::with_capacity(others.len());
        for (offset, listener) in others.into_iter().enumerate() {
            let index = offset + 1;
            let (router, stopped, ended, upgraded) = (router.clone(), stopped.clone(), ended.clone(), upgraded.clone());
            let (done, finished) = oneshot::channel::<()>();
            let thread = std::thread::Builder::new()
                .name(format!("capcom-serve-{index}"))
                .spawn(move || {
                    // Dropped last, however the thread ends: `join` awaits it instead of blocking.
                    let _done = done;
                    serve_thread(index, listener, router, stopped, ended, times, upgraded)
                })
                .map_err(|error| {
                    std::io::Error::new(
                        error.kind(),
                        format!("cannot start the thread of serving runtime {index}: {error}"),
                    )
                });
            match thread {
                Ok(thread) => threads.push((thread, finished)),
                Err(error) => {
                    let _ = stop.send(true);
                    // The error that stops capcom is this one; the threads started only stop.
                    if let Err(others) = join(threads).await {
                        tracing::warn!(error = %others, "a serving runtime ended with an error");
                    }
                    return Err(error);
                }
            }
        }
        drop(ended);
        let early = Arc::new(Mutex::new(None));
        let noted = early.clone();
        let stopping = async move {
            tokio::select! {
                () = shutdown => {}
                Some((index, outcome)) = ends.recv() => {
                    let cause = match outcome {
                        Ok(()) => "it stopped serving".to_owned(),
                        Err(error) => error.to_string(),
                    };
                    tracing::error!(runtime = index, %cause, "a serving runtime ended early; stopping");
                    if let Ok(mut slot) = noted.lock() {
                        *slot = Some(std::io::Error::other(format!("serving runtime {index} ended early: {cause}")));
                    }
                }
            }
            let _ = stop.send(true);
        };
        let served = serve(first, router, stopping, times, upgraded).await;
        let others = join(threads).await;
        let early = early.lock().ok().and_then(|mut slot| slot.take());
        match (served, early, others) {
            (Err(error), _, _) | (Ok(()), Some(error), _) => Err(error),
            (Ok(()), None, others) => others,
        }
    }
}

/// Binds `address` for listening (backlog 1024), with `SO_REUSEPORT` when `shared`.
///
/// # Panics
/// Outside a Tokio runtime (the listener registers with the runtime's I/O driver).
fn bind(address: SocketAddr, shared: bool) -> std::io::Result<TcpListener> {
    let socket = if address.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    // As `TcpListener::bind` does: a restarted capcom may bind while old connections are in TIME_WAIT.
    socket.set_reuseaddr(true)?;
    if shared {
        socket.set_reuseport(true)?;
    }
    socket.bind(address)?;
    socket.listen(1024)
}

/// Says how its thread ended when dropped, panics included.
struct Report {
    index: usize,
    ended: mpsc::UnboundedSender<(usize, std::io::Result<()>)>,
    outcome: Option<std::io::Result<()>>,
}

impl Drop for Report {
    fn drop(&mut self) {
        let outcome = self.outcome.take().unwrap_or_else(|| Err(std::io::Error::other("its thread panicked")));
        let _ = self.ended.send((self.index, outcome));
    }
}

/// The body of runtime `index`'s thread: serves `listener` until `stopped` holds `true` (or its sender is
/// gone), then reports how it ended.
fn serve_thread(
    index: usize,
    listener: std::net::TcpListener,
    router: axum::Router,
    mut stopped: watch::Receiver<bool>,
    ended: mpsc::UnboundedSender<(usize, std::io::Result<()>)>,
    times: ConnectionTimes,
    upgraded: Arc<Upgraded>,
) -> std::io::Result<()> {
    let mut report = Report { index, ended, outcome: None };
    let outcome = shard_runtime(index)
        .map_err(|error| std::io::Error::new(error.kind(), format!("cannot make the runtime: {error}")))
        .and_then(|runtime| {
            runtime.block_on(async move {
                let listener = TcpListener::from_std(listener)?;
                let stopping = async move {
                    let _ = stopped.wait_for(|stop| *stop).await;
                };
                serve(listener, router, stopping, times, upgraded).await
            })
        });
    let result = outcome.as_ref().map(|_| ()).map_err(|error| std::io::Error::new(error.kind(), error.to_string()));
    report.outcome = Some(outcome);
    result
}

/// Waits for `threads` to end, each with the signal it sends last; the first error one ended with. A
/// thread's failure was already reported through its [`Report`].
///
/// The wait is an `await` (the runtime keeps serving what it holds), then each join is immediate. It
/// starts no thread: a stop must work when the system refuses new threads (`spawn_blocking` then
/// panicked).
async fn join(
    threads: Vec<(std::thread::JoinHandle<std::io::Result<()>>, oneshot::Receiver<()>)>,
) -> std::io::Result<()> {
    let mut first_error = Ok(());
    for (thread, finished) in threads {
        // An error means the sender is gone: the thread has ended.
        let _ = finished.await;
        let outcome =
            thread.join().map_err(|_| std::io::Error::other("a serving thread panicked")).and_then(|ended| ended);
        if first_error.is_ok() {
            first_error = outcome;
        }
    }
    first_error
}
