//! A dedicated connection LISTENing on PostgreSQL notification channels, handing each notification to a
//! callback, and connecting again (after a pause) whenever the connection is lost. Used by the mailer (new
//! outbox messages) and by read routing (other processes' writes).

use std::time::Duration;

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures_util::StreamExt;
use tokio::task::JoinHandle;

/// Longest pause between two connection attempts.
const MAX_PAUSE: Duration = Duration::from_secs(5);

async fn open(url: &str, channels: &[&str]) -> Result<AsyncPgConnection, String> {
    let mut conn = AsyncPgConnection::establish(url).await.map_err(|e| e.to_string())?;
    for channel in channels {
        // Channel names are constants of capcom (plain identifiers), never input.
        diesel::sql_query(format!("LISTEN {channel}")).execute(&mut conn).await.map_err(|e| e.to_string())?;
    }
    Ok(conn)
}

/// Listens on `channels` of the database at `url` for as long as the returned task runs; `on_notification`
/// receives `(channel, payload)`. `on_connect` runs after every (re)connection, once the channels are
/// listened to: notifications sent while the connection was down are lost, so a caller catches up there.
pub fn spawn(
    url: String,
    channels: &'static [&'static str],
    on_notification: impl Fn(&str, &str) + Send + 'static,
    on_connect: impl Fn() + Send + 'static,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut pause = Duration::from_millis(100);
        loop {
            let conn = match open(&url, channels).await {
                Ok(conn) => conn,
                Err(error) => {
                    tracing::warn!(%error, ?channels, "cannot listen for notifications; trying again");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(MAX_PAUSE);
                    continue;
                }
            };
            pause = Duration::from_millis(100);
            on_connect();
            let mut conn = conn;
            let mut notifications = std::pin::pin!(conn.notifications_stream());
            while let Some(Ok(notification)) = notifications.next().await {
                on_notification(&notification.channel, &notification.payload);
            }
            tracing::warn!(?channels, "the notification listener lost its connection; reconnecting");
            tokio::time::sleep(pause).await;
        }
    })
}
