//! The mailer: delivers the mail outbox (SPEC §4.4) over SMTP with `lettre`.
//!
//! One mailer runs in every capcom process that has `CAPCOM_SMTP_URL`. It wakes when a message is queued
//! (a trigger on `mail_outbox` notifies the channel [`MAIL_CHANNEL`], heard by every process), when a
//! retry falls due, and at least every `CAPCOM_MAIL_POLL_MS`. Each message is claimed with `FOR UPDATE
//! SKIP LOCKED` (see [`crate::db::models::mail_delivery`]), so processes share the work and none sends a
//! message another is sending. A failed delivery is tried again after `CAPCOM_MAIL_RETRY_MS`, doubling up
//! to `CAPCOM_MAIL_RETRY_MAX_MS`; a permanent refusal (SMTP 5xx, an unusable address) or
//! `CAPCOM_MAIL_MAX_ATTEMPTS` failures give it up (it stays in the outbox with its error). The outbox is
//! the queue, so nothing is lost when capcom stops: the next start carries on.
//!
//! Every message carries `Message-ID: <outbox id@capcom>`: in the one case where a message can go out
//! twice (the process dies after the SMTP server accepted it and before the outbox row was marked), the
//! receiving side sees the same id.

use std::sync::Arc;
use std::time::Duration;

use diesel_async::{AsyncConnection, AsyncPgConnection};
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::db::DbPool;
use crate::db::models::invite::OutboxMessage;
use crate::db::models::mail_delivery;
use crate::error::{ApiError, ApiResult};
use crate::metrics::Metrics;

/// Channel a trigger notifies when messages are queued.
pub const MAIL_CHANNEL: &str = "capcom_mail";

/// Why the mailer could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// `CAPCOM_SMTP_URL` is not a usable SMTP URL.
    #[error("CAPCOM_SMTP_URL: {0}")]
    SmtpUrl(String),
    /// `CAPCOM_MAIL_FROM` is not a mailbox.
    #[error("CAPCOM_MAIL_FROM is not an email address (`Name <address>` or `address`): {0}")]
    From(String),
}

/// The SMTP transport for `url` (see `CAPCOM_SMTP_URL` in [`crate::config::Config`]): `smtps://` is
/// TLS from the start; `smtp://` uses STARTTLS and refuses a server that does not offer it, unless the URL
/// says `?tls=opportunistic` or, for a relay on a trusted network, `?tls=none` (plain text).
pub fn transport(url: &str, timeout: Duration) -> Result<AsyncSmtpTransport<Tokio1Executor>, MailError> {
    let mut parsed = url::Url::parse(url).map_err(|e| MailError::SmtpUrl(e.to_string()))?;
    let tls = parsed.query_pairs().find(|(key, _)| key == "tls").map(|(_, value)| value.into_owned());
    let others: Vec<(String, String)> =
        parsed.query_pairs().filter(|(key, _)| key != "tls").map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let tls = match (parsed.scheme(), tls.as_deref()) {
        ("smtp", None) => Some("required"),
        // lettre's plain-text form is `smtp://` without the parameter.
        ("smtp", Some("none")) => None,
        ("smtp", Some(mode @ ("required" | "opportunistic"))) => Some(mode),
        ("smtps", None) => None,
        (scheme, tls) => {
            return Err(MailError::SmtpUrl(format!(
                "expected smtps://… or smtp://…[?tls=required|opportunistic|none], not {scheme}:// with tls={tls:?}"
            )));
        }
    };
    parsed.set_query(None);
    {
        let mut query = parsed.query_pairs_mut();
        for (key, value) in &others {
            query.append_pair(key, value);
        }
        if let Some(mode) = tls {
            query.append_pair("tls", mode);
        }
    }
    let mut text = parsed.to_string();
    if text.ends_with('?') {
        text.pop();
    }
    let builder =
        AsyncSmtpTransport::<Tokio1Executor>::from_url(&text).map_err(|e| MailError::SmtpUrl(e.to_string()))?;
    Ok(builder.timeout(Some(timeout)).build())
}

/// How the mailer delivers and retries.
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// `From` of every message.
    pub from: Mailbox,
    /// Longest pause between two looks at the outbox.
    pub poll: Duration,
    /// Pause before the first retry.
    pub retry: Duration,
    /// Longest pause before a retry.
    pub retry_max: Duration,
    /// Deliveries tried before giving up.
    pub max_attempts: i32,
}

impl MailSettings {
    /// The settings `config` gives.
    pub fn from_config(config: &Config) -> Result<MailSettings, MailError> {
        Ok(MailSettings {
            from: config
                .mail_from
                .parse()
                .map_err(|e: lettre::address::AddressError| MailError::From(e.to_string()))?,
            poll: Duration::from_millis(config.mail_poll_ms.max(10)),
            retry: Duration::from_millis(config.mail_retry_ms.max(1)),
            retry_max: Duration::from_millis(config.mail_retry_max_ms.max(config.mail_retry_ms).max(1)),
            max_attempts: config.mail_max_attempts.max(1),
        })
    }

    /// Pause before the next try of a message that has failed `failures` times.
    pub fn backoff(&self, failures: i32) -> Duration {
        let doublings = u32::try_from(failures.saturating_sub(1)).unwrap_or(0).min(30);
        self.retry.saturating_mul(1u32 << doublings).min(self.retry_max)
    }
}

/// A running mailer; dropping it stops it.
#[derive(Debug)]
pub struct Mailer {
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Mailer {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Starts the mailer of this process when `config` names an SMTP server (`None` otherwise). `database_url`
/// is listened on for new messages.
pub fn start(
    config: &Config,
    pool: DbPool,
    metrics: Arc<Metrics>,
    database_url: &str,
) -> Result<Option<Mailer>, MailError> {
    let Some(url) = &config.smtp_url else { return Ok(None) };
    let transport = transport(url, Duration::from_millis(config.smtp_timeout_ms))?;
    let settings = MailSettings::from_config(config)?;
    let wake = Arc::new(Notify::new());
    let heard = wake.clone();
    let reconnected = wake.clone();
    let listener = crate::db::listen::spawn(
        database_url.to_owned(),
        &[MAIL_CHANNEL],
        move |_, _| heard.notify_one(),
        // Messages queued while the listener was away are found by looking now.
        move || reconnected.notify_one(),
    );
    let worker = tokio::spawn(run(pool, transport, settings, metrics, wake));
    tracing::info!("mailer started");
    Ok(Some(Mailer { tasks: vec![listener, worker] }))
}

async fn run(
    pool: DbPool,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    settings: MailSettings,
    metrics: Arc<Metrics>,
    wake: Arc<Notify>,
) {
    loop {
        loop {
            match deliver_next(&pool, &transport, &settings, &metrics).await {
                Ok(true) => continue,
                Ok(false) => break,
                Err(error) => {
                    tracing::warn!(%error, "the mailer cannot reach the outbox");
                    break;
                }
            }
        }
        let pause = match next_due(&pool).await {
            Ok(Some(seconds)) => Duration::try_from_secs_f64(seconds.max(0.0)).unwrap_or(settings.poll),
            Ok(None) => settings.poll,
            Err(_) => settings.poll,
        };
        tokio::select! {
            () = wake.notified() => {}
            () = tokio::time::sleep(pause.min(settings.poll)) => {}
        }
    }
}

async fn next_due(pool: &DbPool) -> ApiResult<Option<f64>> {
    let mut conn = pool.get().await?;
    Ok(mail_delivery::seconds_until_next_due(&mut conn).await?)
}

/// Messages neither sent nor given up (the outbox gauge).
pub async fn pending_count(conn: &mut AsyncPgConnection) -> ApiResult<i64> {
    Ok(mail_delivery::pending_count(conn).await?)
}

/// How one delivery ended.
enum Outcome {
    Sent,
    Retry(String),
    GiveUp(String),
}

fn message_for(settings: &MailSettings, row: &OutboxMessage) -> Result<Message, String> {
    let to: Mailbox = row.recipient.parse().map_err(|e| format!("the recipient is not an address: {e}"))?;
    Message::builder()
        .from(settings.from.clone())
        .to(to)
        .subject(row.subject.clone())
        .message_id(Some(format!("<{}@capcom>", row.id)))
        .header(ContentType::TEXT_PLAIN)
        .body(row.body_text.clone())
        .map_err(|e| format!("the message cannot be built: {e}"))
}

/// Delivers the oldest due message, if any; `Ok(false)` when none is due.
async fn deliver_next(
    pool: &DbPool,
    transport: &AsyncSmtpTransport<Tokio1Executor>,
    settings: &MailSettings,
    metrics: &Metrics,
) -> ApiResult<bool> {
    let mut conn = pool.get().await?;
    conn.transaction(async |tx| {
        let Some(row) = mail_delivery::claim_due(tx).await? else { return Ok::<bool, ApiError>(false) };
        let failures = row.attempts + 1;
        let outcome = match message_for(settings, &row) {
            Err(reason) => Outcome::GiveUp(reason),
            Ok(message) => match transport.send(message).await {
                Ok(_) => Outcome::Sent,
                Err(error) if error.is_permanent() => Outcome::GiveUp(error.to_string()),
                Err(error) if failures >= settings.max_attempts => {
                    Outcome::GiveUp(format!("{error} (after {failures} attempts)"))
                }
                Err(error) => Outcome::Retry(error.to_string()),
            },
        };
        match outcome {
            Outcome::Sent => {
                mail_delivery::mark_sent(tx, row.id).await?;
                metrics.mail_sent();
                tracing::info!(message = %row.id, attempts = failures, "mail sent");
            }
            Outcome::Retry(error) => {
                let pause = settings.backoff(failures);
                mail_delivery::reschedule(tx, row.id, i64::try_from(pause.as_millis()).unwrap_or(i64::MAX), &error)
                    .await?;
                metrics.mail_failed(false);
                // The error text may quote the recipient: it is kept on the row, not logged.
                tracing::warn!(message = %row.id, attempts = failures, retry_in_ms = pause.as_millis(), "mail delivery failed; will retry");
            }
            Outcome::GiveUp(error) => {
                mail_delivery::give_up(tx, row.id, &error).await?;
                metrics.mail_failed(true);
                tracing::warn!(message = %row.id, attempts = failures, "mail delivery given up (see mail_outbox.last_error)");
            }
        }
        Ok(true)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls_default_to_starttls_and_say_plain_text_explicitly() {
        let timeout = Duration::from_secs(1);
        for good in [
            "smtp://user:pass@mail.example.com:587",
            "smtp://mail.example.com?tls=opportunistic",
            "smtp://127.0.0.1:2525?tls=none",
            "smtps://user:pass@mail.example.com",
        ] {
            assert!(transport(good, timeout).is_ok(), "{good}");
        }
        for bad in ["http://mail.example.com", "smtp://mail.example.com?tls=maybe", "not a url"] {
            assert!(transport(bad, timeout).is_err(), "{bad}");
        }
    }

    #[test]
    fn retries_back_off_doubling_up_to_the_cap() {
        let settings = MailSettings {
            from: "capcom <capcom@localhost>".parse().unwrap_or_else(|_| unreachable!()),
            poll: Duration::from_secs(10),
            retry: Duration::from_secs(30),
            retry_max: Duration::from_secs(3600),
            max_attempts: 20,
        };
        assert_eq!(settings.backoff(1), Duration::from_secs(30));
        assert_eq!(settings.backoff(2), Duration::from_secs(60));
        assert_eq!(settings.backoff(3), Duration::from_secs(120));
        assert_eq!(settings.backoff(12), Duration::from_secs(3600));
        assert_eq!(settings.backoff(1000), Duration::from_secs(3600));
    }
}
