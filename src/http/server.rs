//! HTTP/1.1 connections: accepting them, bounding how long a client may take, and stopping
//! (docs/operations.md, "Stopping").
//!
//! Two limits keep a client from holding a connection, or capcom's stop, for as long as it likes:
//!
//! - **Headers:** a request's head (its request line and headers) must arrive within
//!   [`ConnectionTimes::header_read`] of the connection becoming ready for it (`CAPCOM_HEADER_TIMEOUT_MS`),
//!   or the connection is closed. hyper runs the same timer while a kept-alive connection waits for its
//!   next request, so this is also the idle limit. Without it, a client sending one header byte at a
//!   time (slowloris) held its socket and file descriptor for good, and Ctrl-C waited for it.
//! - **Draining:** once stopping, capcom stops accepting, lets every connection finish the request it
//!   is serving (and closes idle ones), but waits for them at most [`ConnectionTimes::drain`]; the
//!   connections still open then (a client that does not read its answer) are closed.
//!
//! Upgraded connections (WebSockets) leave hyper's hands at the upgrade: they are told to close through
//! [`Upgraded`] when the stop begins, and waited for (briefly) once the HTTP connections are drained.

use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

/// How long upgraded connections are given, once told to close, to send their close frame.
const UPGRADED_CLOSE: Duration = Duration::from_secs(2);

/// How long a client may take (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionTimes {
    /// Longest wait for a request's head, from the moment the connection can take one.
    pub header_read: Duration,
    /// Longest wait, once stopping, for the open connections to finish.
    pub drain: Duration,
}

impl ConnectionTimes {
    /// The times of the configuration: the head within `CAPCOM_HEADER_TIMEOUT_MS`; a stop waits for
    /// `CAPCOM_REQUEST_TIMEOUT_MS` and three seconds more, as the router's outer deadline gives a request
    /// two seconds past its own to be answered (`http::router`), and the answer one more to be written.
    pub fn from_config(config: &crate::config::Config) -> Self {
        ConnectionTimes {
            header_read: Duration::from_millis(config.header_timeout_ms),
            drain: Duration::from_millis(config.request_timeout_ms).saturating_add(Duration::from_secs(3)),
        }
    }
}

/// The upgraded connections (WebSocket sessions) of this process, which the stop tells to close and
/// waits for: each session holds an [`UpgradedHold`] for as long as it runs.
#[derive(Debug)]
pub struct Upgraded {
    closing: watch::Sender<bool>,
}

/// One session's place in [`Upgraded`].
#[derive(Debug)]
pub struct UpgradedHold(watch::Receiver<bool>);

impl Default for Upgraded {
    fn default() -> Self {
        Upgraded { closing: watch::Sender::new(false) }
    }
}

impl Upgraded {
    /// A place for one session, held until it ends.
    pub fn hold(&self) -> UpgradedHold {
        UpgradedHold(self.closing.subscribe())
    }

    /// Tells every session, present and future, to close.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Waits, at most `within`, for every session to end; whether they all did.
    pub async fn ended(&self, within: Duration) -> bool {
        tokio::time::timeout(within, self.closing.closed()).await.is_ok()
    }
}

impl UpgradedHold {
    /// Completes once the process is stopping.
    pub async fn closing(&mut self) {
        // An error means the process's `Upgraded` is gone: stopping as well.
        let _ = self.0.wait_for(|closing| *closing).await;
    }
}

/// Where the connections are in the stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Serving,
    /// Finish the request in flight, take no other.
    Draining,
    /// Close now.
    Closing,
}

/// Serves `router` on `listener` (HTTP/1.1, with upgrades; each request carries its peer's address as a
/// [`ConnectInfo`]) until `shutdown` completes. Then it tells `upgraded` sessions to close, drains the
/// open connections within `times.drain` and closes the rest, and gives the sessions
/// two seconds to end.
///
/// # Errors
/// None today: failures to accept a connection are logged and retried (a process out of file
/// descriptors keeps serving the connections it has).
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    times: ConnectionTimes,
    upgraded: Arc<Upgraded>,
) -> std::io::Result<()> {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(times.header_read);
    let (phase, connections) = watch::channel(Phase::Serving);
    let mut shutdown = pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    accept_failed(error).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            router.clone().oneshot(request)
        });
        let connection = builder.serve_connection(TokioIo::new(stream), service).with_upgrades();
        let mut told = connections.clone();
        tokio::spawn(async move {
            let mut connection = pin!(connection);
            tokio::select! {
                served = connection.as_mut() => return log_ended(served),
                _ = told.wait_for(|phase| *phase >= Phase::Draining) => connection.as_mut().graceful_shutdown(),
            }
            tokio::select! {
                served = connection.as_mut() => log_ended(served),
                _ = told.wait_for(|phase| *phase >= Phase::Closing) => {}
            }
        });
    }
    drop(listener);
    drop(connections);
    upgraded.close();
    phase.send_replace(Phase::Draining);
    if tokio::time::timeout(times.drain, phase.closed()).await.is_err() {
        tracing::warn!(
            open = phase.receiver_count(),
            drain_ms = u64::try_from(times.drain.as_millis()).unwrap_or(u64::MAX),
            "connections still open after the drain time; closing them"
        );
        phase.send_replace(Phase::Closing);
        phase.closed().await;
    }
    if !upgraded.ended(UPGRADED_CLOSE).await {
        tracing::warn!("WebSocket sessions still open after being told to close");
    }
    Ok(())
}

/// A connection that ended with an error (the client went away, sent garbage, or was too slow with its
/// headers) is the client's business: noted at debug level only.
fn log_ended(served: hyper::Result<()>) {
    if let Err(error) = served {
        tracing::debug!(%error, "connection ended");
    }
}

/// After a failed accept: errors of the one connection are skipped; others (out of file descriptors) are
/// logged and waited out for a second, rather than retried in a busy loop.
async fn accept_failed(error: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(error.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset) {
        return;
    }
    tracing::error!(%error, "cannot accept a connection; retrying in a second");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A request that never ends does not hold the stop past the drain time: its connection is closed.
    #[tokio::test]
    async fn the_stop_closes_what_the_drain_time_did_not_see_end() {
        let entered = Arc::new(tokio::sync::Notify::new());
        let handler = {
            let entered = entered.clone();
            move || async move {
                entered.notify_one();
                std::future::pending::<()>().await
            }
        };
        let router = axum::Router::new().route("/", get(handler));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let times = ConnectionTimes { header_read: Duration::from_secs(60), drain: Duration::from_millis(200) };
        let upgraded = Arc::new(Upgraded::default());
        let server = tokio::spawn(serve(listener, router, async { drop(stopped.await) }, times, upgraded));

        let mut client = tokio::net::TcpStream::connect(address).await.expect("connect");
        client.write_all(b"GET / HTTP/1.1\r\nHost: capcom\r\n\r\n").await.expect("request");
        // The request is being served (it never ends) when the stop begins.
        entered.notified().await;
        let _ = stop.send(());
        // Bounded: without the drain time, the server waits for the request for ever.
        let stopped = tokio::time::timeout(Duration::from_secs(20), server).await;
        assert!(matches!(stopped, Ok(Ok(Ok(())))), "{stopped:?}");
        let mut rest = Vec::new();
        let closed = tokio::time::timeout(Duration::from_secs(20), client.read_to_end(&mut rest)).await;
        assert!(matches!(closed, Ok(Ok(_))), "the connection was closed: {closed:?}");
    }

    /// Sessions are told to close when the stop begins, and the stop waits for them.
    #[tokio::test]
    async fn sessions_are_told_to_close_and_waited_for() {
        let upgraded = Upgraded::default();
        let mut hold = upgraded.hold();
        assert!(!upgraded.ended(Duration::from_millis(10)).await, "a session holds its place");
        upgraded.close();
        hold.closing().await;
        drop(hold);
        assert!(upgraded.ended(Duration::from_secs(20)).await);
        // A session that starts after the stop began is told at once.
        upgraded.hold().closing().await;
    }
}
