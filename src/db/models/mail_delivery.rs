//! Delivery queries on `mail_outbox` (the row and how messages are queued live in [`super::invite`]).
//!
//! The outbox is the queue: a mailer claims the oldest due message with `FOR UPDATE SKIP LOCKED` inside a
//! transaction that it keeps open while it talks to the SMTP server, then marks the message sent,
//! rescheduled or given up in that transaction. Another process's mailer skips a claimed row, so no
//! message is sent twice by two processes; a process that dies mid-delivery releases its claim with its
//! connection, and the message is tried again.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Nullable, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::models::invite::OutboxMessage;
use crate::db::schema::mail_outbox;

/// Longest error text kept on a message.
const MAX_ERROR: usize = 1000;

fn clipped(error: &str) -> String {
    error.chars().take(MAX_ERROR).collect()
}

/// Locks and returns the oldest message due for delivery that no other transaction holds.
pub async fn claim_due(conn: &mut AsyncPgConnection) -> QueryResult<Option<OutboxMessage>> {
    mail_outbox::table
        .filter(mail_outbox::sent_at.is_null())
        .filter(mail_outbox::failed_at.is_null())
        .filter(mail_outbox::next_attempt_at.le(diesel::dsl::now))
        .order((mail_outbox::next_attempt_at, mail_outbox::id))
        .limit(1)
        .for_update()
        .skip_locked()
        .select(OutboxMessage::as_select())
        .first(conn)
        .await
        .optional()
}

/// Marks a claimed message sent.
pub async fn mark_sent(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<()> {
    diesel::update(mail_outbox::table.find(id))
        .set((
            mail_outbox::sent_at.eq(diesel::dsl::now),
            mail_outbox::attempts.eq(mail_outbox::attempts + 1),
            mail_outbox::last_error.eq(None::<String>),
        ))
        .execute(conn)
        .await
        .map(|_| ())
}

/// Records a failed delivery of a claimed message and when to try it again (`delay_ms` from now, by the
/// database's clock, which every process shares).
pub async fn reschedule(conn: &mut AsyncPgConnection, id: Uuid, delay_ms: i64, error: &str) -> QueryResult<()> {
    diesel::sql_query(
        "UPDATE mail_outbox SET attempts = attempts + 1, last_error = $2, \
         next_attempt_at = now() + make_interval(secs => $3::double precision / 1000) WHERE id = $1",
    )
    .bind::<diesel::sql_types::Uuid, _>(id)
    .bind::<Text, _>(clipped(error))
    .bind::<BigInt, _>(delay_ms)
    .execute(conn)
    .await
    .map(|_| ())
}

/// Gives a claimed message up: it is not tried again (it stays in the outbox with its error).
pub async fn give_up(conn: &mut AsyncPgConnection, id: Uuid, error: &str) -> QueryResult<()> {
    diesel::update(mail_outbox::table.find(id))
        .set((
            mail_outbox::failed_at.eq(diesel::dsl::now),
            mail_outbox::attempts.eq(mail_outbox::attempts + 1),
            mail_outbox::last_error.eq(clipped(error)),
        ))
        .execute(conn)
        .await
        .map(|_| ())
}

/// Messages neither sent nor given up.
pub async fn pending_count(conn: &mut AsyncPgConnection) -> QueryResult<i64> {
    mail_outbox::table
        .filter(mail_outbox::sent_at.is_null())
        .filter(mail_outbox::failed_at.is_null())
        .count()
        .get_result(conn)
        .await
}

#[derive(QueryableByName)]
struct Due {
    #[diesel(sql_type = Nullable<Double>)]
    seconds: Option<f64>,
}

/// Seconds until the next pending message is due (zero or less: due now); `None` when nothing is pending.
pub async fn seconds_until_next_due(conn: &mut AsyncPgConnection) -> QueryResult<Option<f64>> {
    let due: Due = diesel::sql_query(
        "SELECT EXTRACT(EPOCH FROM min(next_attempt_at) - now())::double precision AS seconds \
         FROM mail_outbox WHERE sent_at IS NULL AND failed_at IS NULL",
    )
    .get_result(conn)
    .await?;
    Ok(due.seconds)
}
