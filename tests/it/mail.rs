//! The mailer: invites reach a real SMTP server on loopback with the right recipient and link; a message
//! stays queued while SMTP is down and goes out when it is back (also after a restart); a permanent
//! refusal is given up; two capcom servers on one database send each message once.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::smtp::{SmtpServer, unused_port};
use crate::common::{TestApp, test_config};

fn smtp_url(port: u16) -> String {
    format!("smtp://capcom:mail-secret@127.0.0.1:{port}?tls=none")
}

async fn invite(app: &TestApp, token: &str, email: &str) -> String {
    let body =
        app.gql("mutation($e: String!) { inviteUser(email: $e) { token } }", json!({"e": email}), Some(token)).await;
    body["data"]["inviteUser"]["token"].as_str().unwrap_or_else(|| panic!("inviteUser: {body}")).to_owned()
}

/// Polls `sql` (one bigint `n`) until it equals `expected` (at most 30 s).
async fn wait_count(app: &TestApp, sql: &str, expected: i64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let n = app.count(sql).await;
        if n == expected {
            return;
        }
        assert!(Instant::now() < deadline, "{sql}: {n}, expected {expected}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invite_reaches_the_smtp_server_with_its_recipient_and_link() {
    let smtp = SmtpServer::start().await;
    let app = TestApp::spawn_with(|config| {
        config.smtp_url = Some(smtp_url(smtp.port));
        config.public_url = "https://console.example.com/".into();
        config.mail_from = "Capcom <noreply@example.com>".into();
    })
    .await;
    let (root, _) = app.sign_up("root@example.com", "correct horse battery").await;
    let token = invite(&app, &root, "grace@example.com").await;

    let received = smtp.wait_for(1).await;
    assert_eq!(received.len(), 1);
    let mail = &received[0];
    assert_eq!(mail.to, vec!["grace@example.com".to_owned()]);
    assert_eq!(mail.from, "noreply@example.com");
    assert_eq!(mail.user.as_deref(), Some("capcom"), "the URL's credentials were used");
    let (_, body) = mail.data.split_once("\r\n\r\n").expect("headers, then the body");
    let body = quoted_printable::decode(body.as_bytes(), quoted_printable::ParseMode::Robust).unwrap();
    let body = String::from_utf8(body).unwrap();
    let link = format!("https://console.example.com/console/#/invite?token={token}");
    assert!(body.contains(&link), "the mail links to the public URL with the token: {body}");
    assert!(mail.data.contains("Subject: You are invited to capcom"), "{}", mail.data);

    wait_count(&app, "SELECT count(*) AS n FROM mail_outbox WHERE sent_at IS NOT NULL AND attempts = 1", 1).await;
    let outbox = app.gql("{ mailOutbox { recipient sentAt } }", json!({}), Some(&root)).await;
    assert!(outbox["data"]["mailOutbox"][0]["sentAt"].is_string(), "{outbox}");
    let logs = crate::common::captured_logs();
    let leaked: Vec<&str> = logs.lines().filter(|line| line.contains(&token)).collect();
    assert!(leaked.is_empty(), "the token is never logged: {leaked:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_waits_while_smtp_is_down_and_goes_out_after_a_restart() {
    let port = unused_port();
    let mut a = TestApp::spawn_with(|config| {
        config.smtp_url = Some(smtp_url(port));
        config.mail_retry_ms = 50;
        config.mail_retry_max_ms = 200;
    })
    .await;
    let (root, _) = a.sign_up("root@example.com", "correct horse battery").await;
    invite(&a, &root, "grace@example.com").await;
    // Nothing listens: the message is tried, fails, and stays queued with its error.
    wait_count(
        &a,
        "SELECT count(*) AS n FROM mail_outbox WHERE sent_at IS NULL AND attempts >= 3 AND last_error IS NOT NULL",
        1,
    )
    .await;
    assert_eq!(a.count("SELECT count(*) AS n FROM mail_outbox WHERE failed_at IS NOT NULL").await, 0);

    // capcom stops; the SMTP server comes back; a new capcom on the same database sends the message.
    drop(a.mailer.take());
    let smtp = SmtpServer::start_on(port, &[]).await;
    let b = TestApp::spawn_on((*a.state.config).clone(), a.db_url.clone()).await;
    let received = smtp.wait_for(1).await;
    assert_eq!(received[0].to, vec!["grace@example.com".to_owned()]);
    wait_count(&b, "SELECT count(*) AS n FROM mail_outbox WHERE sent_at IS NOT NULL", 1).await;
    // And the retries were spaced out, not a busy loop.
    assert!(b.count("SELECT max(attempts)::bigint AS n FROM mail_outbox").await < 100);
    assert_eq!(smtp.received().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_refusal_is_given_up_at_once() {
    let smtp = SmtpServer::start_on(0, &["bounce@example.com"]).await;
    let app = TestApp::spawn_with(|config| {
        config.smtp_url = Some(smtp_url(smtp.port));
        config.mail_retry_ms = 50;
    })
    .await;
    let (root, _) = app.sign_up("root@example.com", "correct horse battery").await;
    invite(&app, &root, "bounce@example.com").await;
    invite(&app, &root, "grace@example.com").await;
    smtp.wait_for(1).await;
    wait_count(&app, "SELECT count(*) AS n FROM mail_outbox WHERE failed_at IS NOT NULL AND attempts = 1", 1).await;
    assert_eq!(
        smtp.received().iter().map(|m| m.to.clone()).collect::<Vec<_>>(),
        vec![vec!["grace@example.com".to_owned()]]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_database_send_each_message_once() {
    let smtp = SmtpServer::start().await;
    let mut config = test_config();
    config.smtp_url = Some(smtp_url(smtp.port));
    let a = TestApp::spawn_with(|c| *c = config.clone()).await;
    let b = TestApp::spawn_on((*a.state.config).clone(), a.db_url.clone()).await;
    let (root, _) = a.sign_up("root@example.com", "correct horse battery").await;
    const INVITES: usize = 30;
    // Invites through both servers: both mailers wake for every message.
    for n in 0..INVITES {
        let server = if n % 2 == 0 { &a } else { &b };
        invite(server, &root, &format!("person{n}@example.com")).await;
    }
    let received = smtp.wait_for(INVITES).await;
    wait_count(&a, "SELECT count(*) AS n FROM mail_outbox WHERE sent_at IS NULL", 0).await;
    let mut per_recipient: HashMap<String, usize> = HashMap::new();
    for mail in smtp.received() {
        *per_recipient.entry(mail.to.join(",")).or_default() += 1;
    }
    assert_eq!(per_recipient.len(), INVITES, "{received:?}");
    assert!(per_recipient.values().all(|count| *count == 1), "a message went out twice: {per_recipient:?}");
    assert_eq!(a.count("SELECT count(*) AS n FROM mail_outbox WHERE attempts <> 1").await, 0);
}
