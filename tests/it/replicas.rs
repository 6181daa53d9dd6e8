//! Several capcom servers on one PostgreSQL, and reads on a hot standby (`DATABASE_READ_URL`).
//!
//! The standby test pauses the standby's WAL replay, so "the standby has not seen this write yet" is a
//! state the test sets, not a race it hopes to win.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::standby::{Replicated, execute, start_pair, stop_primary, wait_replayed};
use crate::common::{TestApp, error_code, test_config};

const ALL_WORKSPACES: &str = "{ workspaces(all: true) { id label } }";
const MY_WORKSPACES: &str = "{ workspaces { id label } }";

fn standby_statements(app: &TestApp) -> Arc<AtomicU64> {
    app.state.routing.as_ref().expect("a standby is configured").standby().statements().clone()
}

/// Runs `query` as `token` and says how many statements each database ran for it.
async fn read(app: &TestApp, query: &str, token: &str) -> (Value, u64, u64) {
    let standby = standby_statements(app);
    let (primary_before, standby_before) =
        (app.state.statements.load(Ordering::SeqCst), standby.load(Ordering::SeqCst));
    let body = app.gql(query, json!({}), Some(token)).await;
    let primary_ran = app.state.statements.load(Ordering::SeqCst) - primary_before;
    let standby_ran = standby.load(Ordering::SeqCst) - standby_before;
    (body, primary_ran, standby_ran)
}

fn lists(body: &Value, id: &str) -> bool {
    assert!(body.get("errors").is_none(), "{body}");
    body["data"]["workspaces"].as_array().unwrap().iter().any(|w| w["id"] == id)
}

async fn servers(pair: &Replicated) -> (TestApp, TestApp) {
    let mut config = test_config();
    config.public_signups = true;
    config.database_read_url = Some(pair.standby_url.clone());
    config.read_your_writes_ms = 120_000;
    let a = TestApp::spawn_on(config, pair.primary_url.clone()).await;
    // Server B: same database, standby and signing key.
    let b = TestApp::spawn_on((*a.state.config).clone(), pair.primary_url.clone()).await;
    (a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_are_served_by_the_standby_and_writers_read_their_own_writes() {
    let mut pair = tokio::task::spawn_blocking(start_pair).await.unwrap();
    let (a, b) = servers(&pair).await;
    let (root, _) = a.sign_up("root@example.com", "correct horse battery").await;
    let (viewer, viewer_id) = a.sign_up("viewer@example.com", "correct horse battery").await;
    let granted = a.grant_system_role(&root, &viewer_id, "SYSTEM_VIEWER").await;
    assert!(granted.get("errors").is_none(), "{granted}");
    let old = a.create_workspace(&root, "Old").await;
    wait_replayed(&pair).await;

    // The standby stops replaying: from now on it answers with the state above.
    execute(&pair.standby_url, "SELECT pg_wal_replay_pause()").await;
    let fresh = a.create_workspace(&root, "Fresh").await;

    // The writer reads its write, from the primary.
    let (body, on_primary, _) = read(&a, MY_WORKSPACES, &root).await;
    assert!(lists(&body, &fresh), "the writer sees its write: {body}");
    assert!(on_primary > 0, "served by the primary");

    // Someone else reads from the standby, which has not replayed the write.
    let (body, on_primary, on_standby) = read(&a, ALL_WORKSPACES, &viewer).await;
    assert!(lists(&body, &old) && !lists(&body, &fresh), "the standby's state: {body}");
    assert_eq!(on_primary, 0, "no statement on the primary, authentication included");
    assert!(on_standby > 0);

    // Server B heard of the write too (within milliseconds; replay is paused, so only the primary can
    // show the new workspace).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (body, _, _) = read(&b, MY_WORKSPACES, &root).await;
        if lists(&body, &fresh) {
            break;
        }
        assert!(Instant::now() < deadline, "server B routes the writer's reads to the primary");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (body, on_primary, _) = read(&b, ALL_WORKSPACES, &viewer).await;
    assert!(!lists(&body, &fresh) && on_primary == 0, "B serves others from the standby: {body}");

    // Replay resumes: once the standby has the write, the writer's reads go back to it.
    execute(&pair.standby_url, "SELECT pg_wal_replay_resume()").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (body, on_primary, on_standby) = read(&a, MY_WORKSPACES, &root).await;
        assert!(lists(&body, &fresh), "{body}");
        if on_primary == 0 && on_standby > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the writer's reads return to the standby");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (body, _, _) = read(&a, ALL_WORKSPACES, &viewer).await;
    assert!(lists(&body, &fresh), "{body}");

    // The primary stops: writes fail cleanly, reads go on.
    stop_primary(&mut pair).await;
    let write = a.gql("mutation { createWorkspace(label: \"Later\") { id } }", json!({}), Some(&root)).await;
    assert_eq!(error_code(&write), "UNAVAILABLE", "{write}");
    for token in [&viewer, &root] {
        let (body, on_primary, _) = read(&a, ALL_WORKSPACES, token).await;
        assert!(lists(&body, &fresh) && lists(&body, &old), "{body}");
        assert_eq!(on_primary, 0);
    }
    let (body, _, _) = read(&b, "{ self { id } }", &viewer).await;
    assert!(body.get("errors").is_none(), "{body}");
    // Still ready, read-only: a load balancer keeps the reads coming.
    let ready = a.client.get(format!("{}/readyz", a.base)).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    assert!(ready.text().await.unwrap().contains("read-only"));
}

/// `workspaceUpdateUserRole` demoting `victim` to viewer through `app`, on its own task.
fn demote(app: &TestApp, token: &str, workspace: &str, victim: &str) -> tokio::task::JoinHandle<Value> {
    let request = app.client.post(format!("{}/v1", app.base)).header("Authorization", token).json(&json!({
        "query": "mutation($w: Uuid!, $e: String!) { workspaceUpdateUserRole(workspaceUuid: $w, email: $e, role: WORKSPACE_VIEWER) }",
        "variables": {"w": workspace, "e": victim}
    }));
    tokio::spawn(async move { request.send().await.unwrap().json().await.unwrap() })
}

fn create(app: &TestApp, token: &str, label: &str) -> tokio::task::JoinHandle<Value> {
    let request = app.client.post(format!("{}/v1", app.base)).header("Authorization", token).json(&json!({
        "query": "mutation($l: String!) { createWorkspace(label: $l) { id } }",
        "variables": {"l": label}
    }));
    tokio::spawn(async move { request.send().await.unwrap().json().await.unwrap() })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_on_one_database_keep_every_invariant() {
    let a = TestApp::spawn_with(|config| config.public_signups = true).await;
    let b = TestApp::spawn_on((*a.state.config).clone(), a.db_url.clone()).await;
    a.sign_up("root@example.com", "correct horse battery").await;
    let (first, _) = a.sign_up("first@example.com", "correct horse battery").await;
    let (second, _) = b.sign_up("second@example.com", "correct horse battery").await;
    for round in 0..5 {
        // The same label through both servers at once: one workspace.
        let (x, y) = (create(&a, &first, &format!("race-{round}")), create(&b, &second, &format!("race-{round}")));
        let raced = [x.await.unwrap(), y.await.unwrap()];
        assert_eq!(raced.iter().filter(|body| body.get("errors").is_none()).count(), 1, "{raced:?}");
        assert_eq!(error_code(raced.iter().find(|body| body.get("errors").is_some()).unwrap()), "CONFLICT");

        // Two admins demoting each other through different servers: exactly one wins.
        let workspace = a.create_workspace(&first, &format!("pair-{round}")).await;
        a.add_to_workspace(&first, &workspace, "second@example.com", "WORKSPACE_ADMIN").await;
        let (x, y) = (
            demote(&a, &first, &workspace, "second@example.com"),
            demote(&b, &second, &workspace, "first@example.com"),
        );
        let results = [x.await.unwrap(), y.await.unwrap()];
        assert_eq!(results.iter().filter(|body| body.get("errors").is_none()).count(), 1, "{results:?}");
        let admins = a
            .count(&format!(
                "SELECT count(*) AS n FROM role_bindings WHERE workspace_id = '{workspace}' AND role = 'WORKSPACE_ADMIN' AND user_id IS NOT NULL"
            ))
            .await;
        assert_eq!(admins, 1, "round {round}");
    }
}

/// Bindings one server holds never outlive a change made through another (docs/limits.md, "Principals"):
/// a grant, a removal and a team's role made through server A are seen by server B on the caller's very
/// next request, although B held the caller's bindings from before.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_change_through_one_server_is_seen_by_the_other_servers_held_bindings() {
    use crate::principal_cache::{assert_held, reads, world_on};
    let a = TestApp::spawn_with(|config| config.public_signups = true).await;
    let b = TestApp::spawn_on((*a.state.config).clone(), a.db_url.clone()).await;
    let w = world_on(a).await;
    assert!(!reads(&b, &w.mia, &w.workspace).await, "no role yet");
    assert_held(&b, &w.mia).await;
    let added = w.app.add_to_workspace(&w.root, &w.workspace, "mia@example.com", "WORKSPACE_VIEWER").await;
    assert!(added.get("errors").is_none(), "{added}");
    assert!(reads(&b, &w.mia, &w.workspace).await, "granted through A: B reads at once");
    assert_held(&b, &w.mia).await;
    let remove = "mutation($w: Uuid!, $u: Uuid!) { workspaceRemoveUser(workspaceUuid: $w, userUuid: $u) { id } }";
    let removed = w.app.gql(remove, json!({"w": w.workspace, "u": w.mia_id}), Some(&w.root)).await;
    assert!(removed.get("errors").is_none(), "{removed}");
    assert!(!reads(&b, &w.mia, &w.workspace).await, "removed through A: B refuses at once");
    assert_held(&b, &w.mia).await;
    // Through a team: mia joins on B, the team gains and loses its role on A.
    let join = "mutation($t: Uuid!, $u: Uuid!) { teamAddUser(teamUuid: $t, userUuid: $u) { id } }";
    let joined = b.gql(join, json!({"t": w.team, "u": w.mia_id}), Some(&w.owner)).await;
    assert!(joined.get("errors").is_none(), "{joined}");
    assert!(!reads(&b, &w.mia, &w.workspace).await, "the team holds no role yet");
    assert_held(&b, &w.mia).await;
    let add_team = "mutation($w: Uuid!, $t: Uuid!) { workspaceAddTeam(workspaceUuid: $w, teamUuid: $t, role: WORKSPACE_VIEWER) { id } }";
    let team_added = w.app.gql(add_team, json!({"w": w.workspace, "t": w.team}), Some(&w.root)).await;
    assert!(team_added.get("errors").is_none(), "{team_added}");
    assert!(reads(&b, &w.mia, &w.workspace).await, "the team's role made on A counts on B at once");
    assert_held(&b, &w.mia).await;
    let remove_team = "mutation($w: Uuid!, $t: Uuid!) { workspaceRemoveTeam(workspaceUuid: $w, teamUuid: $t) { id } }";
    let team_removed = w.app.gql(remove_team, json!({"w": w.workspace, "t": w.team}), Some(&w.root)).await;
    assert!(team_removed.get("errors").is_none(), "{team_removed}");
    assert!(!reads(&b, &w.mia, &w.workspace).await, "the team's role removed on A is gone on B at once");
}
