//! Change events across replicas through PostgreSQL LISTEN/NOTIFY: deployments that changed, and audit
//! events that were written.
//!
//! A change is announced with `pg_notify` inside the transaction that makes it, so it is delivered only if
//! that transaction commits. Each process keeps one dedicated listening connection (opened on the first
//! subscription, re-opened if it drops) and fans events out to its subscribers through a broadcast channel.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use diesel::sql_types::Text;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures_util::StreamExt;
use tokio::sync::{OnceCell, broadcast};
use uuid::Uuid;

/// Channel on which deployment changes are announced (payload: the deployment id).
pub const DEPLOYMENT_CHANNEL: &str = "capcom_deployment";

/// Channel on which new audit events are announced (payload: the event id), by a trigger on
/// `audit_events`.
pub const AUDIT_CHANNEL: &str = "capcom_audit";

/// Something that changed, as announced on one of the channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A deployment changed (id).
    Deployment(Uuid),
    /// An audit event was written (id).
    Audit(Uuid),
}

/// Announces that deployment `id` changed (delivered when the caller's transaction commits).
pub async fn deployment_changed(conn: &mut AsyncPgConnection, id: Uuid) -> diesel::QueryResult<()> {
    diesel::sql_query("SELECT pg_notify($1, $2)")
        .bind::<Text, _>(DEPLOYMENT_CHANNEL)
        .bind::<Text, _>(id.to_string())
        .execute(conn)
        .await
        .map(|_| ())
}

/// Why listening could not start.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// The listening connection could not be opened.
    #[error("listening for changes: {0}")]
    Database(String),
    /// capcom is stopping ([`Events::stop`]): a subscription now is answered UNAVAILABLE.
    #[error("capcom is stopping")]
    Stopping,
}

impl From<ListenError> for crate::error::ApiError {
    fn from(error: ListenError) -> Self {
        match error {
            ListenError::Stopping => crate::error::ApiError::unavailable(error.to_string()),
            ListenError::Database(_) => crate::error::ApiError::internal(error.to_string()),
        }
    }
}

/// This process's view of change events (deployments changed, audit events written).
pub struct Events {
    database_url: String,
    sender: broadcast::Sender<Event>,
    listening: OnceCell<()>,
    /// The runtime the listening connection is opened and driven on: the one that made this value
    /// (runtime 0 for `capcom serve`), not whichever serving runtime subscribes first, which may be busy
    /// with a long request or gone first at shutdown (`crate::runtimes`).
    home: Option<tokio::runtime::Handle>,
    /// The task forwarding notifications, once listening; aborted by [`Events::stop`].
    forwarding: Mutex<Option<tokio::task::AbortHandle>>,
    /// Set by [`Events::stop`]: a later subscription is refused rather than listening again.
    stopped: Arc<AtomicBool>,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL holds a password.
        f.write_str("Events")
    }
}

async fn open_listener(url: &str) -> Result<AsyncPgConnection, ListenError> {
    let mut conn = AsyncPgConnection::establish(url).await.map_err(|e| ListenError::Database(e.to_string()))?;
    for channel in [DEPLOYMENT_CHANNEL, AUDIT_CHANNEL] {
        diesel::sql_query(format!("LISTEN {channel}"))
            .execute(&mut conn)
            .await
            .map_err(|e| ListenError::Database(e.to_string()))?;
    }
    Ok(conn)
}

/// Forwards notifications to `sender` until `stopped` (a lost connection then ends it quietly: capcom is
/// stopping its database), reconnecting when the connection is lost otherwise.
async fn forward(mut conn: AsyncPgConnection, url: String, sender: broadcast::Sender<Event>, stopped: Arc<AtomicBool>) {
    loop {
        {
            let mut notifications = std::pin::pin!(conn.notifications_stream());
            while let Some(Ok(notification)) = notifications.next().await {
                let Ok(id) = notification.payload.parse::<Uuid>() else { continue };
                let event = match notification.channel.as_str() {
                    DEPLOYMENT_CHANNEL => Event::Deployment(id),
                    AUDIT_CHANNEL => Event::Audit(id),
                    _ => continue,
                };
                // No receiver at the moment is fine: nobody is watching.
                let _ = sender.send(event);
            }
        }
        if AtomicBool::load(&stopped, Ordering::SeqCst) {
            return;
        }
        tracing::warn!("the change listener lost its database connection; reconnecting");
        conn = loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            match open_listener(&url).await {
                Ok(conn) => break conn,
                Err(error) => tracing::warn!(%error, "reconnecting the change listener"),
            }
        };
    }
}

impl Events {
    /// Events for the database at `database_url`; nothing is opened until the first subscription.
    pub fn new(database_url: &str) -> Self {
        let (sender, _) = broadcast::channel(1024);
        Events {
            database_url: database_url.to_owned(),
            sender,
            listening: OnceCell::new(),
            home: tokio::runtime::Handle::try_current().ok(),
            forwarding: Mutex::new(None),
            stopped: Arc::new(AtomicBool::new(false)),
        }
    }

    /// A receiver of change events. Returns once this process is listening, so that no change committed
    /// after the call is missed.
    pub async fn subscribe(&self) -> Result<broadcast::Receiver<Event>, ListenError> {
        if self.is_stopped() {
            return Err(ListenError::Stopping);
        }
        let receiver = self.sender.subscribe();
        self.listening
            .get_or_try_init(|| async {
                let (url, sender, stopped) = (self.database_url.clone(), self.sender.clone(), self.stopped.clone());
                // Runs to its end even if the subscriber stops waiting (a session closed at the stop): the
                // forwarding task it starts always knows whether capcom is stopping.
                let listen = async move {
                    let conn = open_listener(&url).await?;
                    Ok::<_, ListenError>(tokio::spawn(forward(conn, url, sender, stopped)).abort_handle())
                };
                let forwarding = match &self.home {
                    Some(home) => {
                        home.spawn(listen).await.map_err(|error| ListenError::Database(error.to_string()))??
                    }
                    None => listen.await?,
                };
                if let Ok(mut slot) = self.forwarding.lock() {
                    *slot = Some(forwarding);
                }
                // A stop that came while the connection opened found no task to abort.
                if self.is_stopped() {
                    self.stop();
                }
                Ok::<(), ListenError>(())
            })
            .await
            // A listener that failed to open while capcom stops (its database going away) is the stop.
            .map_err(|error| if self.is_stopped() { ListenError::Stopping } else { error })?;
        Ok(receiver)
    }

    /// Whether [`Events::stop`] was called. (`AtomicBool::load` by path: diesel's `RunQueryDsl::load`, which
    /// takes `self` by value, would be picked first.)
    fn is_stopped(&self) -> bool {
        AtomicBool::load(&self.stopped, Ordering::SeqCst)
    }

    /// Stops listening, before the database goes away at shutdown: losing the connection then is no
    /// fault to warn about and reconnect from. Subscribers receive nothing more.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        if let Some(forwarding) = self.forwarding.lock().ok().and_then(|mut slot| slot.take()) {
            forwarding.abort();
        }
    }
}
