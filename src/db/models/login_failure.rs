//! `login_failures`: failed sign-ins per identity and per client address, for throttling.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::schema::login_failures;

/// What failures are counted against.
#[derive(Debug, Clone, Copy)]
pub enum FailureKey<'a> {
    /// A normalized identity (email address or username).
    Identity(&'a str),
    /// A client address key (IPv4 address or IPv6 /64).
    Address(&'a str),
    /// An email address a password reset was asked for (counts requests, not failures).
    ResetEmail(&'a str),
    /// A client address key that asked for password resets.
    ResetAddress(&'a str),
}

impl<'a> FailureKey<'a> {
    fn parts(self) -> (&'static str, &'a str) {
        match self {
            FailureKey::Identity(identity) => ("identity", identity),
            FailureKey::Address(address) => ("address", address),
            FailureKey::ResetEmail(email) => ("reset_email", email),
            FailureKey::ResetAddress(address) => ("reset_address", address),
        }
    }
}

/// Counts one more attempt against `key` and returns the count in the current window, starting a new
/// window when the old one has passed. Sign-in reserves its attempt this way *before* checking the
/// password, in one statement, so that concurrent guesses cannot all pass a check made before any of them
/// was counted. Now and then (one call in 64) also deletes every row whose window has passed, so that the
/// table does not grow with every identity ever tried.
pub async fn record_failure(
    conn: &mut AsyncPgConnection,
    key: FailureKey<'_>,
    now: DateTime<Utc>,
    window: Duration,
) -> QueryResult<i32> {
    use diesel::dsl::sql;
    use diesel::sql_types::{Integer, Timestamptz};
    let (scope, identity) = key.parts();
    let window_start = now - window;
    let count = diesel::insert_into(login_failures::table)
        .values((
            login_failures::scope.eq(scope),
            login_failures::identity.eq(identity),
            login_failures::failure_count.eq(1),
            login_failures::window_started_at.eq(now),
        ))
        .on_conflict((login_failures::scope, login_failures::identity))
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
        .returning(login_failures::failure_count)
        .get_result::<i32>(conn)
        .await?;
    let mut dice = [0u8; 1];
    if getrandom::fill(&mut dice).is_ok() && dice[0] < 4 {
        diesel::delete(login_failures::table.filter(login_failures::window_started_at.le(window_start)))
            .execute(conn)
            .await?;
    }
    Ok(count)
}

/// Gives back one attempt reserved against `key` (a sign-in that succeeded from this address).
pub async fn release(conn: &mut AsyncPgConnection, key: FailureKey<'_>) -> QueryResult<()> {
    use diesel::dsl::sql;
    use diesel::sql_types::Integer;
    diesel::update(login_failures::table.find(key.parts()))
        .set(login_failures::failure_count.eq(sql::<Integer>("greatest(login_failures.failure_count - 1, 0)")))
        .execute(conn)
        .await
        .map(|_| ())
}

/// Forgets the failures of `key` (after a successful sign-in).
pub async fn clear(conn: &mut AsyncPgConnection, key: FailureKey<'_>) -> QueryResult<()> {
    diesel::delete(login_failures::table.find(key.parts())).execute(conn).await.map(|_| ())
}
