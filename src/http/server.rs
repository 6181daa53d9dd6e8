//! HTTP/1.1 connections: accepting them, bounding how long a client may take, and stopping
//! (docs/operations.md, "Stopping").
//!
//! Two limits keep a client from holding a connection, or capcom's stop, for as long as it likes:
//!
//! - **Headers:** a request's head (its request line and headers) must arrive within
//!   [`ConnectionTimes::header_read`] of the connection becoming ready for it, or the connection is
//!   closed. This also closes a kept-alive connection that sends nothing. Without it, a client sending
//!   one header byte at a time (slowloris) held its socket and file descriptor for good, and Ctrl-C
//!   waited for it.
//! - **Draining:** once stopping, capcom stops accepting, lets every connection finish the request it
//!   is serving (and closes idle ones), but waits for them at most [`ConnectionTimes::drain`]; the
//!   connections still open then (a client that does not read its answer) are closed.
//!
//! Upgraded connections (WebSockets) leave this accounting when upgraded: their sessions end on their
//! own at the stop (`http::ws`).

use std::pin::pin;
use std::time::Duration;

use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

/// How long a client may take (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionTimes {
    /// Longest wait for a request's head, from the moment the connection can take one.
    pub header_read: Duration,
    /// Longest wait, once stopping, for the open connections to finish.
    pub drain: Duration,
}

impl ConnectionTimes {
    /// The times for a request deadline (`CAPCOM_REQUEST_TIMEOUT_MS`): a head must arrive within the
    /// deadline, as the rest of the request must, and a stop waits for the deadline and three seconds
    /// more: the router's outer deadline gives a request two seconds past its own to be answered
    /// (`http::router`), and the answer one more to be written.
    pub fn for_request_timeout(request_timeout: Duration) -> Self {
        ConnectionTimes { header_read: request_timeout, drain: request_timeout + Duration::from_secs(3) }
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
/// [`ConnectInfo`]) until `shutdown` completes, then drains the open connections within
/// `times.drain` and closes the rest.
///
/// # Errors
/// None today: failures to accept a connection are logged and retried (a process out of file
/// descriptors keeps serving the connections it has).
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    times: ConnectionTimes,
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
        let mut phase = connections.clone();
        tokio::spawn(async move {
            let mut connection = pin!(connection);
            tokio::select! {
                served = connection.as_mut() => return log_ended(served),
                _ = phase.wait_for(|phase| *phase >= Phase::Draining) => connection.as_mut().graceful_shutdown(),
            }
            tokio::select! {
                served = connection.as_mut() => log_ended(served),
                _ = phase.wait_for(|phase| *phase >= Phase::Closing) => {}
            }
        });
    }
    drop(listener);
    drop(connections);
    let _ = phase.send(Phase::Draining);
    if tokio::time::timeout(times.drain, phase.closed()).await.is_err() {
        tracing::warn!(
            open = phase.receiver_count(),
            drain_ms = times.drain.as_millis() as u64,
            "connections still open after the drain time; closing them"
        );
        let _ = phase.send(Phase::Closing);
        phase.closed().await;
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
