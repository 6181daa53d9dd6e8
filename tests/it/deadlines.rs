//! Request deadlines: a request waiting on a slow statement is answered UNAVAILABLE at its deadline, the
//! statement is cancelled on the PostgreSQL server (not left running), and the pool recovers.

use std::time::{Duration, Instant};

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use serde_json::json;

use crate::common::{TestApp, error_code};

/// Statements of this test's capcom that wait for a lock.
async fn waiting_statements(app: &TestApp) -> i64 {
    let database = app.db_url.rsplit('/').next().unwrap().to_owned();
    app.count(&format!(
        "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = '{database}' AND application_name = 'capcom' AND wait_event_type = 'Lock'"
    ))
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_past_its_deadline_has_its_statement_cancelled_and_the_pool_recovers() {
    let app = TestApp::spawn_with(|config| {
        config.request_timeout_ms = 1_000;
        config.statement_timeout_ms = 120_000;
        config.pool_size = 2;
    })
    .await;
    let (root, _) = app.sign_up("root@example.com", "correct horse battery").await;
    app.create_workspace(&root, "Data").await;

    // Hold a lock every workspace read waits for.
    let mut locker = AsyncPgConnection::establish(&app.db_url).await.unwrap();
    locker.batch_execute("BEGIN; LOCK TABLE workspaces IN ACCESS EXCLUSIVE MODE").await.unwrap();

    let requests = (0..4).map(|_| app.gql("{ workspaces { id label } }", json!({}), Some(&root)));
    for body in futures_util::future::join_all(requests).await {
        assert_eq!(error_code(&body), "UNAVAILABLE", "{body}");
        assert!(body.get("data").is_none());
    }
    // The abandoned statements were cancelled on the server while the lock is still held (without the
    // cancel they would wait for the lock for two minutes).
    let deadline = Instant::now() + Duration::from_secs(20);
    while waiting_statements(&app).await > 0 {
        assert!(Instant::now() < deadline, "abandoned statements still wait on the server");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    locker.batch_execute("ROLLBACK").await.unwrap();

    // The pool is usable again at once.
    let body = app.gql("{ workspaces { label } }", json!({}), Some(&root)).await;
    assert_eq!(body["data"]["workspaces"][0]["label"], "Data", "{body}");
}
