//! The statement budget (bench/README.md): what a request costs in SQL statements, authentication
//! included, asserted exactly because statement counts are deterministic.

use std::sync::atomic::Ordering;

use serde_json::{Value, json};

use crate::common::TestApp;

/// The console dashboard the benchmark runs (`bench/queries/dashboard.graphql`).
const DASHBOARD: &str = include_str!("../../bench/queries/dashboard.graphql");

/// Statements the server ran while answering one request, and the answer.
async fn cost(app: &TestApp, query: &str, token: &str) -> (u64, Value) {
    let before = app.state.statements.load(Ordering::SeqCst);
    let body = app.gql(query, json!({}), Some(token)).await;
    assert!(body.get("errors").is_none(), "{body}");
    (app.state.statements.load(Ordering::SeqCst) - before, body)
}

/// The dashboard costs this many statements in all (the budget is 6), whatever the number of workspaces,
/// members and deployments: the caller with its bindings (1); the workspaces (1); their members and
/// their deployments with each one's current deploy (2); the members' emails and role bindings (2).
const DASHBOARD_STATEMENTS: u64 = 6;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_costs_the_same_few_statements_at_any_size() {
    let app = TestApp::spawn_with(|config| config.public_signups = true).await;
    let root = app.with_owners().await;
    let owner = app.sign_in("owner2@example.com", "correct horse battery").await;
    let owner = owner["data"]["createToken"]["token"]["value"].as_str().unwrap().to_owned();
    let (member, _) = app.sign_up("member@example.com", "correct horse battery").await;
    let mut counts = Vec::new();
    let mut created = 0;
    // The sizes: 1 and 50 parents. Four colleagues (signed up once: each sign-up hashes a password)
    // share the workspaces, so members repeat across them as they do in a real organization.
    for target in [1, 50] {
        while created < target {
            let workspace = app.create_workspace(&root, &format!("ws-{created}")).await;
            app.add_to_workspace(&root, &workspace, "member@example.com", "WORKSPACE_VIEWER").await;
            let colleague = format!("colleague{}@example.com", created % 4);
            if created < 4 {
                app.sign_up(&colleague, "correct horse battery").await;
            }
            app.add_to_workspace(&root, &workspace, &colleague, "WORKSPACE_EDITOR").await;
            for index in 0..3 {
                app.create_deployment(&root, &workspace, &format!("d{index}")).await;
            }
            created += 1;
        }
        for (who, token) in [("member", &member), ("organization owner", &owner)] {
            let (statements, body) = cost(&app, DASHBOARD, token).await;
            let workspaces = body["data"]["workspaces"].as_array().unwrap();
            assert_eq!(workspaces.len(), target, "{who}: {body}");
            assert!(workspaces.iter().all(|w| w["deployments"].as_array().unwrap().len() == 3), "{who}: {body}");
            counts.push((who, target, statements));
        }
    }
    for (who, workspaces, statements) in &counts {
        assert_eq!(*statements, DASHBOARD_STATEMENTS, "{who}, {workspaces} workspaces; all: {counts:?}");
    }
    let distinct: std::collections::BTreeSet<u64> = counts.iter().map(|(_, _, s)| *s).collect();
    assert_eq!(distinct.len(), 1, "the same at every size and for both callers: {counts:?}");
}

/// Authentication is one statement for a token and for an API key: the caller, its bindings and its
/// revocation instant in one query. `self` (a user's query) needs nothing more; an API key, which has no
/// `self`, costs the same one statement for any request that reads nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication_costs_one_statement_by_token_and_by_api_key() {
    let app = TestApp::spawn_with(|config| config.public_signups = true).await;
    let root = app.with_owners().await;
    let workspace = app.create_workspace(&root, "Data").await;
    let created = app
        .gql(
            "mutation($w: Uuid!) { createWorkspaceServiceAccount(label: \"ci\", category: \"ci\", workspaceUuid: $w, role: WORKSPACE_EDITOR) { apiKey } }",
            json!({"w": workspace}),
            Some(&root),
        )
        .await;
    let key = created["data"]["createWorkspaceServiceAccount"]["apiKey"].as_str().unwrap().to_owned();
    // The first use records `lastUsedAt` (one write at most once a minute per key): not part of the cost.
    cost(&app, "{ appConfig { version } }", &key).await;
    assert_eq!(cost(&app, "{ self { id username } }", &root).await.0, 1, "self by token");
    assert_eq!(cost(&app, "{ appConfig { version } }", &root).await.0, 1, "authentication by token");
    assert_eq!(cost(&app, "{ appConfig { version } }", &key).await.0, 1, "authentication by API key");
    // The same read costs the same whichever credential asks: the principal, then the workspace.
    let read = format!("{{ workspace(workspaceUuid: \"{workspace}\") {{ id label }} }}");
    assert_eq!(cost(&app, &read, &root).await.0, 2, "a workspace by token");
    assert_eq!(cost(&app, &read, &key).await.0, 2, "a workspace by API key");
}

/// A mid-size console page (`bench/queries/dashboard_mid.graphql`): members with addresses, role bindings
/// with the user or API key holding each, deployments with settings and deploy tags.
const DASHBOARD_MID: &str = include_str!("../../bench/queries/dashboard_mid.graphql");

/// The mid-size page costs one statement per relation, however many workspaces, members, bindings and
/// deployments it shows: the caller with its bindings (1); the workspaces (1); their members, role bindings
/// and deployments (3); the members' emails and the bindings' service accounts (2)... with the users reached
/// through `roleBindings.user` taken from the members loaded beside them, not loaded a second time.
const DASHBOARD_MID_STATEMENTS: u64 = 6;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mid_size_dashboard_loads_each_table_once_per_level() {
    let app = TestApp::spawn_with(|config| config.public_signups = true).await;
    let root = app.with_owners().await;
    let (member, _) = app.sign_up("member@example.com", "correct horse battery").await;
    for index in 0..3 {
        app.sign_up(&format!("colleague{index}@example.com"), "correct horse battery").await;
    }
    let mut counts = Vec::new();
    let mut created = 0;
    for target in [1, 5] {
        while created < target {
            let workspace = app.create_workspace(&root, &format!("ws-{created}")).await;
            app.add_to_workspace(&root, &workspace, "member@example.com", "WORKSPACE_VIEWER").await;
            for index in 0..3 {
                let colleague = format!("colleague{index}@example.com");
                app.add_to_workspace(&root, &workspace, &colleague, "WORKSPACE_EDITOR").await;
            }
            let key = app
                .gql(
                    "mutation($w: Uuid!) { createWorkspaceServiceAccount(label: \"ci\", category: \"ci\", workspaceUuid: $w, role: WORKSPACE_EDITOR) { id } }",
                    json!({"w": workspace}),
                    Some(&root),
                )
                .await;
            assert!(key.get("errors").is_none(), "{key}");
            for index in 0..4 {
                app.create_deployment(&root, &workspace, &format!("d{index}")).await;
            }
            created += 1;
        }
        let (statements, body) = cost(&app, DASHBOARD_MID, &member).await;
        let workspaces = body["data"]["workspaces"].as_array().unwrap();
        assert_eq!(workspaces.len(), target, "{body}");
        for workspace in workspaces {
            // The creator (an admin), the member and three colleagues; their bindings and the key's.
            assert_eq!(workspace["users"].as_array().unwrap().len(), 5, "{workspace}");
            let bindings = workspace["roleBindings"].as_array().unwrap();
            assert_eq!(bindings.len(), 6, "{workspace}");
            assert_eq!(bindings.iter().filter(|b| b["user"]["username"].is_string()).count(), 5, "{workspace}");
            assert_eq!(bindings.iter().filter(|b| b["serviceAccount"]["label"] == "ci").count(), 1, "{workspace}");
            assert_eq!(workspace["deployments"].as_array().unwrap().len(), 4, "{workspace}");
        }
        counts.push((target, statements));
    }
    for (workspaces, statements) in &counts {
        assert_eq!(*statements, DASHBOARD_MID_STATEMENTS, "{workspaces} workspaces; all: {counts:?}");
    }
}

/// Authentication costs one statement whatever the caller holds (issue 24): a member holding one binding
/// and an administrator holding one per workspace they created, on their first request to a server (the
/// bindings are packed and decoded) and on the next ones (the server holds them; the statement only says
/// they are current and packs nothing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication_costs_one_statement_whatever_the_caller_holds() {
    let app = TestApp::spawn_with(|config| config.public_signups = true).await;
    let root = app.with_owners().await;
    let (member, member_id) = app.sign_up("member@example.com", "correct horse battery").await;
    for index in 0..40 {
        app.create_workspace(&root, &format!("ws-{index}")).await;
    }
    let held = |id: &str| format!("SELECT count(*) AS n FROM role_bindings WHERE user_id = '{id}'");
    assert_eq!(app.count(&held(&member_id)).await, 1, "the member holds its organization membership");
    let root_id = app.text("SELECT user_id::text AS t FROM emails WHERE address = 'root@example.com'").await;
    assert!(app.count(&held(&root_id)).await >= 42, "system admin, owner, and admin of 40 workspaces");
    // A second server on the same database holds nothing yet: its first request for each caller packs.
    let fresh = TestApp::spawn_on((*app.state.config).clone(), app.db_url.clone()).await;
    let cache = &fresh.state.principals;
    for (who, token) in [("one binding", &member), ("42 bindings", &root)] {
        let packed = cache.packed_count();
        assert_eq!(cost(&fresh, "{ self { id } }", token).await.0, 1, "{who}, first request");
        assert_eq!(cache.packed_count(), packed + 1, "{who}: the first request packs the bindings");
        for _ in 0..3 {
            assert_eq!(cost(&fresh, "{ self { id } }", token).await.0, 1, "{who}, bindings held");
        }
        assert_eq!(cache.packed_count(), packed + 1, "{who}: held bindings are not packed again");
    }
}
