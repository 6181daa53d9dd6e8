//! `login_failures`: failed sign-ins per identity, for throttling.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::schema::login_failures;

/// Failures recorded for `identity` within the window that ends now, or 0.
pub async fn recent_failures(
    conn: &mut AsyncPgConnection,
    identity: &str,
    now: DateTime<Utc>,
    window: Duration,
) -> QueryResult<i32> {
    let row: Option<(i32, DateTime<Utc>)> = login_failures::table
        .find(identity)
        .select((login_failures::failure_count, login_failures::window_started_at))
        .first(conn)
        .await
        .optional()?;
    Ok(match row {
        Some((count, started)) if started + window > now => count,
        _ => 0,
    })
}

/// Counts one more failure for `identity`, starting a new window when the old one has passed.
pub async fn record_failure(
    conn: &mut AsyncPgConnection,
    identity: &str,
    now: DateTime<Utc>,
    window: Duration,
) -> QueryResult<()> {
    use diesel::dsl::sql;
    use diesel::sql_types::{Integer, Timestamptz};
    let window_start = now - window;
    diesel::insert_into(login_failures::table)
        .values((
            login_failures::identity.eq(identity),
            login_failures::failure_count.eq(1),
            login_failures::window_started_at.eq(now),
        ))
        .on_conflict(login_failures::identity)
        .do_update()
        .set((
            login_failures::failure_count.eq(sql::<Integer>("CASE WHEN login_failures.window_started_at > ")
                .bind::<Timestamptz, _>(window_start)
                .sql(" THEN login_failures.failure_count + 1 ELSE 1 END")),
            login_failures::window_started_at.eq(sql::<Timestamptz>("CASE WHEN login_failures.window_started_at > ")
                .bind::<Timestamptz, _>(window_start)
                .sql(" THEN login_failures.window_started_at ELSE ")
                .bind::<Timestamptz, _>(now)
                .sql(" END")),
        ))
        .execute(conn)
        .await
        .map(|_| ())
}

/// Forgets the failures of `identity` (after a successful sign-in).
pub async fn clear(conn: &mut AsyncPgConnection, identity: &str) -> QueryResult<()> {
    diesel::delete(login_failures::table.find(identity)).execute(conn).await.map(|_| ())
}
