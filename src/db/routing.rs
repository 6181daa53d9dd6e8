//! Read routing to a hot standby (`DATABASE_READ_URL`), with read-your-writes for each caller.
//!
//! A GraphQL HTTP request whose operations are all queries is *read-only*: it is served from the standby,
//! its authentication included. Everything else (mutations, subscriptions and every operation over a
//! WebSocket, background work) uses the primary.
//!
//! Read-your-writes: after a request that ran a mutation, capcom takes the primary's WAL insert position
//! (which is at or past the commit of every transaction the mutation made) and keeps it as a *fence* for
//! the caller (a user, by id; an API key, by its public prefix), for at most `CAPCOM_READ_YOUR_WRITES_MS`.
//! A read-only request of a fenced caller goes to the primary until the standby's replay position has
//! passed the fence. The fence is announced on the channel [`FENCE_CHANNEL`] in the same statement, so the
//! other capcom processes on the same primary fence the caller too (they learn of it within milliseconds;
//! a client that reaches another process faster than that, or while that process's listening connection is
//! down, may read the standby's older state: `docs/operations.md`).
//!
//! Fallbacks: when the standby cannot be reached, reads go to the primary; when the primary cannot be
//! reached, fenced reads go to the standby (an older answer rather than none).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::QueryableByName;
use diesel::sql_types::{Nullable, Text};
use diesel_async::RunQueryDsl;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::db::DbPool;

/// Channel on which fences are announced; payload `<lsn> <key> [<key>…]`.
pub const FENCE_CHANNEL: &str = "capcom_read_fence";

/// Fences kept at most; past this many, every caller is fenced at the highest position known (correct,
/// and bounded in memory).
const MAX_FENCES: usize = 100_000;

/// Which database serves a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// The primary (`DATABASE_URL`).
    Primary,
    /// The standby (`DATABASE_READ_URL`).
    Standby,
}

/// The fence key of a user.
pub fn user_key(id: Uuid) -> String {
    format!("u:{id}")
}

/// The fence key of an API key, by its public prefix.
pub fn api_key_key(prefix: &str) -> String {
    format!("k:{prefix}")
}

/// A WAL position (`pg_lsn`) as a number; `None` when `text` is not one.
pub fn parse_lsn(text: &str) -> Option<u64> {
    let (high, low) = text.trim().split_once('/')?;
    Some((u64::from_str_radix(high, 16).ok()? << 32) | u64::from_str_radix(low, 16).ok()?)
}

#[derive(Debug, Clone, Copy)]
struct Fence {
    lsn: u64,
    until: Instant,
}

#[derive(Debug, Default)]
struct Fences {
    by_key: HashMap<String, Fence>,
    /// Set when `by_key` overflowed: it fences every caller.
    everyone: Option<Fence>,
}

impl Fences {
    fn note(&mut self, key: &str, fence: Fence) {
        let now = Instant::now();
        if self.by_key.len() >= MAX_FENCES {
            self.by_key.retain(|_, kept| kept.until > now);
        }
        if self.by_key.len() >= MAX_FENCES {
            let highest = self.by_key.values().map(|kept| kept.lsn).chain([fence.lsn]).max().unwrap_or(fence.lsn);
            self.by_key.clear();
            self.everyone = Some(Fence { lsn: highest, until: fence.until });
            return;
        }
        let slot = self.by_key.entry(key.to_owned()).or_insert(fence);
        slot.lsn = slot.lsn.max(fence.lsn);
        slot.until = slot.until.max(fence.until);
    }

    /// The position `key` must have been replayed to, if any.
    fn of(&mut self, key: Option<&str>) -> Option<u64> {
        let now = Instant::now();
        if self.everyone.is_some_and(|fence| fence.until <= now) {
            self.everyone = None;
        }
        let own = key.and_then(|key| match self.by_key.get(key) {
            Some(fence) if fence.until > now => Some(fence.lsn),
            Some(_) => {
                self.by_key.remove(key);
                None
            }
            None => None,
        });
        own.into_iter().chain(self.everyone.map(|fence| fence.lsn)).max()
    }
}

#[derive(QueryableByName)]
struct Position {
    #[diesel(sql_type = Nullable<Text>)]
    lsn: Option<String>,
}

/// This process's read routing: the standby's pool and the fences of recent writers.
pub struct ReadRouting {
    standby: DbPool,
    fences: Mutex<Fences>,
    /// The highest replay position seen on the standby.
    replayed: AtomicU64,
    window: Duration,
    listener: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for ReadRouting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadRouting").field("standby", &self.standby).finish_non_exhaustive()
    }
}

impl Drop for ReadRouting {
    fn drop(&mut self) {
        if let Some(listener) = self.listener.lock().ok().and_then(|mut slot| slot.take()) {
            listener.abort();
        }
    }
}

impl ReadRouting {
    /// Routing to `standby`; fences last at most `window`. Fences announced by other processes are heard
    /// on a connection to `primary_url` (opened when called inside a Tokio runtime).
    pub fn new(standby: DbPool, primary_url: &str, window: Duration) -> Arc<ReadRouting> {
        let routing = Arc::new(ReadRouting {
            standby,
            fences: Mutex::new(Fences::default()),
            replayed: AtomicU64::new(0),
            window,
            listener: Mutex::new(None),
        });
        if tokio::runtime::Handle::try_current().is_ok() {
            let weak = Arc::downgrade(&routing);
            let task = crate::db::listen::spawn(
                primary_url.to_owned(),
                &[FENCE_CHANNEL],
                move |_, payload| {
                    if let Some(routing) = weak.upgrade() {
                        routing.hear(payload);
                    }
                },
                || {},
            );
            if let Ok(mut slot) = routing.listener.lock() {
                *slot = Some(task);
            }
        }
        routing
    }

    /// The standby's pool.
    pub fn standby(&self) -> &DbPool {
        &self.standby
    }

    fn hear(&self, payload: &str) {
        let mut parts = payload.split(' ');
        let Some(lsn) = parts.next().and_then(parse_lsn) else { return };
        let fence = Fence { lsn, until: Instant::now() + self.window };
        if let Ok(mut fences) = self.fences.lock() {
            for key in parts.filter(|key| !key.is_empty()) {
                fences.note(key, fence);
            }
        }
    }

    fn fence_of(&self, key: Option<&str>) -> Option<u64> {
        self.fences.lock().ok().and_then(|mut fences| fences.of(key))
    }

    /// Where a read-only request of the caller with fence key `key` goes. `primary` and `standby` are the
    /// request's handles of the two pools (the statement this may run is the request's).
    pub async fn route_read(&self, key: Option<&str>, primary: &DbPool, standby: &DbPool) -> Route {
        let caught_up = match self.fence_of(key) {
            None => true,
            Some(fence) if AtomicU64::load(&self.replayed, Ordering::Relaxed) >= fence => true,
            Some(fence) => match self.replay_position(standby).await {
                Some(replayed) => replayed >= fence,
                None => false,
            },
        };
        if caught_up {
            if reachable(standby).await { Route::Standby } else { Route::Primary }
        } else if reachable(primary).await {
            Route::Primary
        } else {
            Route::Standby
        }
    }

    /// The standby's replay position, remembered; `None` when it cannot be read. A server that is not
    /// in recovery (a promoted standby) has everything: `u64::MAX`.
    async fn replay_position(&self, standby: &DbPool) -> Option<u64> {
        let mut conn = standby.get().await.ok()?;
        let row: Position = diesel::sql_query("SELECT pg_last_wal_replay_lsn()::text AS lsn")
            .get_result(&mut *conn)
            .await
            .map_err(|error| tracing::warn!(%error, "cannot read the standby's replay position"))
            .ok()?;
        let replayed = match row.lsn {
            Some(text) => parse_lsn(&text)?,
            None => u64::MAX,
        };
        self.replayed.fetch_max(replayed, Ordering::Relaxed);
        Some(replayed)
    }

    /// Fences `keys` at the primary's current WAL position (after a request that wrote), here and, through
    /// [`FENCE_CHANNEL`], in every other process. One statement on `primary`; failures are logged (the
    /// write itself has already been answered for).
    pub async fn record_write(&self, primary: &DbPool, keys: &[String]) {
        if keys.is_empty() {
            return;
        }
        let announced = keys.join(" ");
        let position: Result<Position, String> = async {
            let mut conn = primary.get().await.map_err(|e| e.to_string())?;
            diesel::sql_query(
                "WITH position AS (SELECT pg_current_wal_insert_lsn()::text AS lsn) \
                 SELECT position.lsn AS lsn FROM position, \
                 LATERAL (SELECT pg_notify($1, position.lsn || ' ' || $2)) AS announced",
            )
            .bind::<Text, _>(FENCE_CHANNEL)
            .bind::<Text, _>(&announced)
            .get_result(&mut *conn)
            .await
            .map_err(|e| e.to_string())
        }
        .await;
        match position.map(|row| row.lsn.as_deref().and_then(parse_lsn)) {
            Ok(Some(lsn)) => {
                let fence = Fence { lsn, until: Instant::now() + self.window };
                if let Ok(mut fences) = self.fences.lock() {
                    for key in keys {
                        fences.note(key, fence);
                    }
                }
            }
            Ok(None) => tracing::warn!("the primary reported no WAL position; no read fence set"),
            Err(error) => tracing::warn!(%error, "cannot read the primary's WAL position; no read fence set"),
        }
    }
}

/// Whether `pool` can serve: this thread's shard of it holds connections already, or one can be opened now. (A pool with
/// connections is taken at its word; a request that finds them broken is answered UNAVAILABLE and the pool
/// discards them, so a server that went away is noticed within a few requests.)
async fn reachable(pool: &DbPool) -> bool {
    pool.open_here() > 0 || pool.get().await.is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsns_parse_and_order() {
        assert_eq!(parse_lsn("0/16B3748"), Some(0x016B_3748));
        assert_eq!(parse_lsn("1/0"), Some(1 << 32));
        assert!(parse_lsn("1/0") > parse_lsn("0/FFFFFFFF"));
        assert_eq!(parse_lsn("nonsense"), None);
    }

    #[test]
    fn fences_keep_the_highest_position_and_overflow_to_everyone() {
        let mut fences = Fences::default();
        let until = Instant::now() + Duration::from_secs(60);
        fences.note("u:a", Fence { lsn: 10, until });
        fences.note("u:a", Fence { lsn: 5, until });
        assert_eq!(fences.of(Some("u:a")), Some(10));
        assert_eq!(fences.of(Some("u:b")), None);
        for n in 0..MAX_FENCES {
            fences.note(&format!("u:{n}"), Fence { lsn: 20, until });
        }
        assert_eq!(fences.of(Some("u:somebody")), Some(20), "after an overflow everyone is fenced");
        let past = Instant::now() - Duration::from_secs(1);
        let mut expired = Fences::default();
        expired.note("u:a", Fence { lsn: 10, until: past });
        assert_eq!(expired.of(Some("u:a")), None);
    }
}
