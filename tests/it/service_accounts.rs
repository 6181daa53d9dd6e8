//! Service accounts and API keys: lifecycle, expiry, rotation, escalation, scope checks, secrecy.

use std::sync::atomic::Ordering;

use serde_json::{Value, json};

use crate::common::{TestApp, captured_logs, error_code};

const CREATE_WS_KEY: &str = "mutation($w: Uuid!, $label: String!, $role: Role!, $days: Int) { createWorkspaceServiceAccount(label: $label, category: \"ci\", workspaceUuid: $w, role: $role, expiresInDays: $days) { id label apiKey keyPrefix entityType workspaceUuid active expiresAt roleBinding { role } } }";
const LIST_DEPLOYMENTS: &str = "query($w: Uuid!) { workspaceDeployments(workspaceUuid: $w) { id } }";

async fn setup() -> (TestApp, String, String) {
    let app = TestApp::spawn_with(|config| config.public_signups = true).await;
    let root = app.with_owners().await;
    let workspace = app.create_workspace(&root, "Data").await;
    (app, root, workspace)
}

async fn create_key(app: &TestApp, token: &str, workspace: &str, label: &str, role: &str, days: Option<i64>) -> Value {
    app.gql(CREATE_WS_KEY, json!({"w": workspace, "label": label, "role": role, "days": days}), Some(token)).await
}

#[tokio::test]
async fn a_workspace_key_works_rotates_and_expires() {
    let (app, root, workspace) = setup().await;
    let created = create_key(&app, &root, &workspace, "ci", "WORKSPACE_EDITOR", Some(30)).await;
    let account = &created["data"]["createWorkspaceServiceAccount"];
    let key = account["apiKey"].as_str().unwrap_or_else(|| panic!("{created}")).to_owned();
    let id = account["id"].as_str().unwrap().to_owned();
    assert!(key.starts_with("cck_") && key.len() > 50, "{key}");
    assert!(key.starts_with(account["keyPrefix"].as_str().unwrap()));
    assert_eq!(account["entityType"], "WORKSPACE");
    assert_eq!(account["roleBinding"]["role"], "WORKSPACE_EDITOR");

    // Later responses show only the prefix.
    let listed = app
        .gql(
            "query($w: Uuid!) { workspaceServiceAccounts(workspaceUuid: $w) { apiKey lastUsedAt } }",
            json!({"w": workspace}),
            Some(&root),
        )
        .await;
    assert!(!listed.to_string().contains(&key));
    assert!(listed["data"]["workspaceServiceAccounts"][0]["lastUsedAt"].is_null());

    // The key lists and creates deployments, bare or as a bearer token.
    let body = app.gql(LIST_DEPLOYMENTS, json!({"w": workspace}), Some(&key)).await;
    assert!(body.get("errors").is_none(), "{body}");
    let body = app
        .gql(
            "mutation($w: Uuid!) { createDeployment(workspaceUuid: $w, label: \"by-ci\") { id } }",
            json!({"w": workspace}),
            Some(&format!("Bearer {key}")),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    let listed = app
        .gql(
            "query($w: Uuid!) { workspaceServiceAccounts(workspaceUuid: $w) { lastUsedAt } }",
            json!({"w": workspace}),
            Some(&root),
        )
        .await;
    assert!(listed["data"]["workspaceServiceAccounts"][0]["lastUsedAt"].is_string(), "{listed}");
    // What a key may not do: act as a person.
    let body = app.gql("{ self { id } }", json!({}), Some(&key)).await;
    assert_eq!(error_code(&body), "FORBIDDEN");

    // Rotation: the old key stops at once, the new one works.
    let rotated = app
        .gql(
            "mutation($id: Uuid!) { rotateServiceAccountKey(serviceAccountUuid: $id) { apiKey } }",
            json!({"id": id}),
            Some(&root),
        )
        .await;
    let new_key = rotated["data"]["rotateServiceAccountKey"]["apiKey"].as_str().unwrap().to_owned();
    assert_ne!(new_key, key);
    assert_eq!(error_code(&app.gql(LIST_DEPLOYMENTS, json!({"w": workspace}), Some(&key)).await), "UNAUTHENTICATED");
    assert!(app.gql(LIST_DEPLOYMENTS, json!({"w": workspace}), Some(&new_key)).await.get("errors").is_none());

    // Expiry, by the server's clock.
    app.clock.advance(chrono::Duration::days(31));
    assert_eq!(
        error_code(&app.gql(LIST_DEPLOYMENTS, json!({"w": workspace}), Some(&new_key)).await),
        "UNAUTHENTICATED"
    );
}

#[tokio::test]
async fn inactive_and_deleted_keys_are_refused() {
    let (app, root, workspace) = setup().await;
    let created = create_key(&app, &root, &workspace, "ci", "WORKSPACE_VIEWER", None).await;
    let key = created["data"]["createWorkspaceServiceAccount"]["apiKey"].as_str().unwrap().to_owned();
    let id = created["data"]["createWorkspaceServiceAccount"]["id"].as_str().unwrap().to_owned();
    const UPDATE: &str = "mutation($id: Uuid!, $w: Uuid!, $p: JSON) { updateWorkspaceServiceAccount(serviceAccountUuid: $id, workspaceUuid: $w, payload: $p) { active label } }";
    let body = app.gql(UPDATE, json!({"id": id, "w": workspace, "p": {"active": false}}), Some(&root)).await;
    assert_eq!(body["data"]["updateWorkspaceServiceAccount"]["active"], false);
    assert_eq!(error_code(&app.gql(LIST_DEPLOYMENTS, json!({"w": workspace}), Some(&key)).await), "UNAUTHENTICATED");
    app.gql(UPDATE, json!({"id": id, "w": workspace, "p": {"active": true}}), Some(&root)).await;
    assert!(app.gql(LIST_DEPLOYMENTS, json!({"w": workspace}), Some(&key)).await.get("errors").is_none());
    let body = app
        .gql("mutation($id: Uuid!, $w: Uuid!) { deleteWorkspaceServiceAccount(serviceAccountUuid: $id, workspaceUuid: $w) { id } }", json!({"id": id, "w": workspace}), Some(&root))
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(error_code(&app.gql(LIST_DEPLOYMENTS, json!({"w": workspace}), Some(&key)).await), "UNAUTHENTICATED");
    assert_eq!(
        error_code(&app.gql(LIST_DEPLOYMENTS, json!({"w": workspace}), Some("cck_000000000000_forged")).await),
        "UNAUTHENTICATED"
    );
}

#[tokio::test]
async fn escalation_and_cross_scope_attempts_are_refused() {
    let (app, root, workspace) = setup().await;
    let (editor, _) = app.sign_up("editor@example.com", "correct horse battery").await;
    app.add_to_workspace(&root, &workspace, "editor@example.com", "WORKSPACE_EDITOR").await;
    let other = app.create_workspace(&root, "Other").await;

    let body = create_key(&app, &editor, &workspace, "admin-key", "WORKSPACE_ADMIN", None).await;
    assert_eq!(error_code(&body), "FORBIDDEN", "an editor cannot mint an admin key");
    let body = create_key(&app, &root, &workspace, "system-key", "SYSTEM_ADMIN", None).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "a workspace key holds a workspace role");
    assert_eq!(body["errors"][0]["extensions"]["field"], "role");

    let editor_key = create_key(&app, &editor, &workspace, "editor-key", "WORKSPACE_EDITOR", None).await;
    let editor_key = editor_key["data"]["createWorkspaceServiceAccount"]["apiKey"].as_str().unwrap().to_owned();
    let body = create_key(&app, &editor_key, &workspace, "escalate", "WORKSPACE_ADMIN", None).await;
    assert_eq!(error_code(&body), "FORBIDDEN", "nor can an editor key");

    let admin_key = create_key(&app, &root, &workspace, "admin", "WORKSPACE_ADMIN", None).await;
    let admin_id = admin_key["data"]["createWorkspaceServiceAccount"]["id"].as_str().unwrap().to_owned();
    let body = app
        .gql(
            "mutation($id: Uuid!) { rotateServiceAccountKey(serviceAccountUuid: $id) { apiKey } }",
            json!({"id": admin_id}),
            Some(&editor),
        )
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN", "an editor cannot take over an admin key by rotating it");
    let body = app
        .gql("mutation($id: Uuid!, $w: Uuid!) { updateWorkspaceServiceAccount(serviceAccountUuid: $id, workspaceUuid: $w, payload: {role: \"WORKSPACE_ADMIN\"}) { id } }", json!({"id": admin_id, "w": workspace}), Some(&editor))
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN");

    // Naming the key next to another workspace: NOT_FOUND, for an admin of that other workspace too.
    let before = app.access_snapshot().await;
    for query in [
        "mutation($id: Uuid!, $w: Uuid!) { deleteWorkspaceServiceAccount(serviceAccountUuid: $id, workspaceUuid: $w) { id } }",
        "mutation($id: Uuid!, $w: Uuid!) { updateWorkspaceServiceAccount(serviceAccountUuid: $id, workspaceUuid: $w, payload: {label: \"x\"}) { id } }",
        "query($id: Uuid!, $w: Uuid!) { workspaceServiceAccount(serviceAccountUuid: $id, workspaceUuid: $w) { id } }",
    ] {
        let body = app.gql(query, json!({"id": admin_id, "w": other}), Some(&root)).await;
        assert_eq!(error_code(&body), "NOT_FOUND", "{query}: {body}");
    }
    assert_eq!(app.access_snapshot().await, before);
}

#[tokio::test]
async fn keys_never_reach_logs_audit_or_later_responses() {
    let (app, root, workspace) = setup().await;
    let created = create_key(&app, &root, &workspace, "ci", "WORKSPACE_EDITOR", None).await;
    let key = created["data"]["createWorkspaceServiceAccount"]["apiKey"].as_str().unwrap().to_owned();
    let id = created["data"]["createWorkspaceServiceAccount"]["id"].as_str().unwrap().to_owned();
    app.gql(LIST_DEPLOYMENTS, json!({"w": workspace}), Some(&key)).await;
    let rotated = app
        .gql(
            "mutation($id: Uuid!) { rotateServiceAccountKey(serviceAccountUuid: $id) { apiKey } }",
            json!({"id": id}),
            Some(&root),
        )
        .await;
    let rotated_key = rotated["data"]["rotateServiceAccountKey"]["apiKey"].as_str().unwrap().to_owned();
    // `cck_<public id>_<secret>`: the secret may itself contain '_'.
    let secret_part = |k: &str| k.splitn(3, '_').nth(2).unwrap().to_owned();
    for k in [&key, &rotated_key] {
        let secret = secret_part(k);
        assert_eq!(app.count(&format!("SELECT count(*) AS n FROM audit_events WHERE (coalesce(before::text, '') || coalesce(after::text, '')) LIKE '%{secret}%'")).await, 0);
        assert!(!captured_logs().contains(&secret), "the key is never logged");
        let listed = app.gql("query($w: Uuid!) { workspaceServiceAccounts(workspaceUuid: $w) { apiKey } workspace(workspaceUuid: $w) { roleBindings { serviceAccount { apiKey } } } }", json!({"w": workspace}), Some(&root)).await;
        assert!(!listed.to_string().contains(&secret));
        // Every column of every row, and every other table a key could leak into.
        for table in ["service_accounts", "role_bindings", "audit_events", "mail_outbox", "users"] {
            let leaked =
                app.count(&format!("SELECT count(*) AS n FROM {table} t WHERE t::text LIKE '%{secret}%'")).await;
            assert_eq!(leaked, 0, "only a hash of the key is stored ({table})");
        }
        let stored: i64 = app.count(&format!("SELECT count(*) AS n FROM service_accounts WHERE id = '{id}'")).await;
        assert_eq!(stored, 1, "the search above looked at the key's own row");
    }
}

#[tokio::test]
async fn with_enforced_ci_cd_only_keys_deploy() {
    let (app, root, workspace) = setup().await;
    let deployment = app.create_deployment(&root, &workspace, "etl").await["id"].as_str().unwrap().to_owned();
    app.gql(
        "mutation($d: Uuid!) { updateDeployment(deploymentUuid: $d, settings: {enforceCicd: true}) { id } }",
        json!({"d": deployment}),
        Some(&root),
    )
    .await;
    let created = app
        .gql("mutation($d: Uuid!) { createDeploymentServiceAccount(label: \"ci\", deploymentUuid: $d, role: DEPLOYMENT_EDITOR) { apiKey entityType deploymentUuid } }", json!({"d": deployment}), Some(&root))
        .await;
    let key = created["data"]["createDeploymentServiceAccount"]["apiKey"]
        .as_str()
        .unwrap_or_else(|| panic!("{created}"))
        .to_owned();
    const DEPLOY: &str =
        "mutation($d: Uuid!) { createDeploy(deploymentUuid: $d, type: IMAGE) { revision deployedByServiceAccountId } }";
    let by_user = app.gql(DEPLOY, json!({"d": deployment}), Some(&root)).await;
    assert_eq!(error_code(&by_user), "FORBIDDEN");
    assert!(by_user["errors"][0]["message"].as_str().unwrap().contains("enforceCicd"));
    let by_key = app.gql(DEPLOY, json!({"d": deployment}), Some(&key)).await;
    assert_eq!(by_key["data"]["createDeploy"]["revision"], 1, "{by_key}");
    assert!(by_key["data"]["createDeploy"]["deployedByServiceAccountId"].is_string());
}

#[tokio::test]
async fn expiry_must_be_within_bounds_and_can_be_required() {
    let (app, root, workspace) = setup().await;
    for days in [0, 3651] {
        let body = create_key(&app, &root, &workspace, &format!("k{days}"), "WORKSPACE_VIEWER", Some(days)).await;
        assert_eq!(body["errors"][0]["extensions"]["field"], "expiresInDays", "{days}");
    }
    let app = TestApp::spawn_with(|config| {
        config.public_signups = true;
        config.sa_max_days = Some(90);
    })
    .await;
    let root = app.with_owners().await;
    let workspace = app.create_workspace(&root, "Data").await;
    let body = create_key(&app, &root, &workspace, "forever", "WORKSPACE_VIEWER", None).await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "expiresInDays", "expiry is required");
    let body = create_key(&app, &root, &workspace, "long", "WORKSPACE_VIEWER", Some(91)).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    let body = create_key(&app, &root, &workspace, "ok", "WORKSPACE_VIEWER", Some(90)).await;
    assert!(body.get("errors").is_none(), "{body}");
}

#[tokio::test]
async fn a_key_costs_no_more_statements_than_a_token() {
    let (app, root, workspace) = setup().await;
    app.create_deployment(&root, &workspace, "etl").await;
    let created = create_key(&app, &root, &workspace, "ci", "WORKSPACE_ADMIN", None).await;
    let key = created["data"]["createWorkspaceServiceAccount"]["apiKey"].as_str().unwrap().to_owned();
    let measure = |credential: String| {
        let app = &app;
        let workspace = workspace.clone();
        async move {
            let before = app.state.statements.load(Ordering::SeqCst);
            let body = app.gql(LIST_DEPLOYMENTS, json!({"w": workspace}), Some(&credential)).await;
            assert!(body.get("errors").is_none(), "{body}");
            app.state.statements.load(Ordering::SeqCst) - before
        }
    };
    measure(key.clone()).await; // the first use records lastUsedAt
    let by_key = measure(key).await;
    let by_token = measure(root.clone()).await;
    assert!(by_key <= by_token, "key: {by_key} statements, token: {by_token}");
}
