//! Workspaces end to end: lifecycle, invites, cross-scope naming, invariants under concurrency, escalation,
//! the matrix queries, and constant statement counts for nested lists.

use std::sync::atomic::Ordering;

use serde_json::{Value, json};

use crate::common::{TestApp, error_code, error_message, test_config};

async fn public_app() -> TestApp {
    TestApp::spawn_with(|config| config.public_signups = true).await
}

#[tokio::test]
async fn create_update_delete_a_workspace() {
    let app = TestApp::spawn().await;
    let (root, _) = app.sign_up("root@example.com", "correct horse battery").await;
    let workspace = app.create_workspace(&root, "Data Team").await;

    let body = app.gql(
        "query($w: Uuid!) { workspace(workspaceUuid: $w) { label users { username roleBindings { role } } workspaceCapabilities { canUpdateIAM canDeleteWorkspace } } }",
        json!({"w": workspace}),
        Some(&root),
    ).await;
    assert_eq!(body["data"]["workspace"]["label"], "Data Team");
    assert_eq!(
        body["data"]["workspace"]["workspaceCapabilities"],
        json!({"canUpdateIAM": true, "canDeleteWorkspace": true})
    );
    let roles = &body["data"]["workspace"]["users"][0]["roleBindings"];
    assert!(roles.as_array().unwrap().iter().any(|b| b["role"] == "WORKSPACE_ADMIN"), "creator is admin: {body}");

    let duplicate = app.gql("mutation { createWorkspace(label: \"data team\") { id } }", json!({}), Some(&root)).await;
    assert_eq!(error_code(&duplicate), "CONFLICT", "labels are unique per organization, case-insensitively");
    let too_long = app
        .gql("mutation($l: String!) { createWorkspace(label: $l) { id } }", json!({"l": "x".repeat(256)}), Some(&root))
        .await;
    assert_eq!(error_code(&too_long), "BAD_USER_INPUT");
    assert_eq!(too_long["errors"][0]["extensions"]["field"], "label");

    let body = app
        .gql(
            "mutation($w: Uuid!) { updateWorkspace(workspaceUuid: $w, payload: {label: \"Analytics\", description: \"numbers\"}) { label description } }",
            json!({"w": workspace}),
            Some(&root),
        )
        .await;
    assert_eq!(body["data"]["updateWorkspace"], json!({"label": "Analytics", "description": "numbers"}));
    let bad = app
        .gql(
            "mutation($w: Uuid!) { updateWorkspace(workspaceUuid: $w, payload: {owner: \"me\"}) { id } }",
            json!({"w": workspace}),
            Some(&root),
        )
        .await;
    assert_eq!(bad["errors"][0]["extensions"]["field"], "payload.owner");

    let garbage = app.gql("query { workspace(workspaceUuid: \"not-a-uuid\") { id } }", json!({}), Some(&root)).await;
    assert_eq!(error_code(&garbage), "BAD_USER_INPUT");

    // A live deployment blocks deletion. (Deployments get their own API later; the row is enough here.)
    let cluster = app.text("SELECT id::text AS t FROM clusters LIMIT 1").await;
    app.text(&format!(
        "WITH d AS (INSERT INTO deployments (id, workspace_id, cluster_id, label, release_name, namespace, version, airflow_version) \
         VALUES (gen_random_uuid(), '{workspace}', '{cluster}', 'etl', 'quiet-star-1234', 'capcom-quiet-star-1234', '1.0.0', '2.9.0') RETURNING id) \
         SELECT id::text AS t FROM d"
    ))
    .await;
    let refused = app
        .gql("mutation($w: Uuid!) { deleteWorkspace(workspaceUuid: $w) { id } }", json!({"w": workspace}), Some(&root))
        .await;
    assert_eq!(error_code(&refused), "CONFLICT");
    app.text("WITH d AS (UPDATE deployments SET deleted_at = now() RETURNING id) SELECT NULL::text AS t").await;
    let deleted = app
        .gql("mutation($w: Uuid!) { deleteWorkspace(workspaceUuid: $w) { id } }", json!({"w": workspace}), Some(&root))
        .await;
    assert_eq!(deleted["data"]["deleteWorkspace"]["id"], workspace.as_str());
    assert_eq!(app.count("SELECT count(*) AS n FROM workspaces").await, 0);
    let gone =
        app.gql("query($w: Uuid!) { workspace(workspaceUuid: $w) { id } }", json!({"w": workspace}), Some(&root)).await;
    assert_eq!(gone, json!({"data": {"workspace": null}}), "a system admin may look, and finds nothing");
    assert_eq!(app.count("SELECT count(*) AS n FROM audit_events WHERE action LIKE 'workspace.%'").await, 3);
}

#[tokio::test]
async fn inviting_a_colleague_who_then_signs_up() {
    // Public sign-ups off: the invite token is the way in.
    let app = TestApp::spawn().await;
    let (root, _) = app.sign_up("root@example.com", "correct horse battery").await;
    let workspace = app.create_workspace(&root, "Data Team").await;
    let body = app
        .gql(
            "mutation($w: Uuid!) { workspaceAddUser(workspaceUuid: $w, email: \"Grace@Example.com\", role: WORKSPACE_EDITOR) { invites { email role } } }",
            json!({"w": workspace}),
            Some(&root),
        )
        .await;
    let invites = &body["data"]["workspaceAddUser"]["invites"];
    assert_eq!(invites[0]["email"], "grace@example.com");
    assert_eq!(invites[0]["role"], "WORKSPACE_EDITOR");
    // SPEC §4.4: the token is never returned by the API, not even to the inviter.
    let asked = app
        .gql(
            "query($w: Uuid!) { workspace(workspaceUuid: $w) { invites { token } } }",
            json!({"w": workspace}),
            Some(&root),
        )
        .await;
    assert_eq!(error_code(&asked), "BAD_USER_INPUT", "{asked}");
    assert!(error_message(&asked).contains("Cannot query field \"token\""), "Invite has no token field: {asked}");

    let again = app
        .gql(
            "mutation($w: Uuid!) { workspaceAddUser(workspaceUuid: $w, email: \"grace@example.com\") { id } }",
            json!({"w": workspace}),
            Some(&root),
        )
        .await;
    assert_eq!(error_code(&again), "CONFLICT", "one pending invite per email and workspace");

    let outbox = app.gql("{ mailOutbox { recipient body } }", json!({}), Some(&root)).await;
    let mail = outbox["data"]["mailOutbox"][0]["body"].as_str().unwrap();
    let token = mail.split_whitespace().find(|w| w.starts_with("cci_")).expect("token in the mail").to_owned();
    let stored =
        app.count(&format!("SELECT count(*) AS n FROM invites WHERE token_hash = sha256('{token}'::bytea)")).await;
    assert_eq!(stored, 1, "only the hash is stored");
    assert_eq!(
        app.count(&format!("SELECT count(*) AS n FROM audit_events WHERE after::text LIKE '%{token}%'")).await,
        0
    );

    let wrong_email = app
        .gql(
            "mutation($t: String!) { createUser(email: \"mallory@example.com\", password: \"correct horse\", inviteToken: $t) { user { id } } }",
            json!({"t": token}),
            None,
        )
        .await;
    assert_eq!(error_code(&wrong_email), "BAD_USER_INPUT");

    let body = app
        .gql(
            "mutation($t: String!) { createUser(email: \"grace@example.com\", password: \"correct horse\", inviteToken: $t) { token { value } } }",
            json!({"t": token}),
            None,
        )
        .await;
    let grace = body["data"]["createUser"]["token"]["value"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned();
    let seen = app.gql("{ workspaces { label } }", json!({}), Some(&grace)).await;
    assert_eq!(seen["data"]["workspaces"], json!([{"label": "Data Team"}]));
    assert_eq!(app.count("SELECT count(*) AS n FROM invites").await, 0, "the invite was used up");

    // Change her role, then remove her.
    let body = app
        .gql(
            "mutation($w: Uuid!) { workspaceUpdateUserRole(workspaceUuid: $w, email: \"grace@example.com\", role: WORKSPACE_VIEWER) }",
            json!({"w": workspace}),
            Some(&root),
        )
        .await;
    assert_eq!(body["data"]["workspaceUpdateUserRole"], "WORKSPACE_VIEWER");
}

#[tokio::test]
async fn invites_expire() {
    let app = TestApp::spawn().await;
    let (root, _) = app.sign_up("root@example.com", "correct horse battery").await;
    let invite =
        app.gql("mutation { inviteUser(email: \"late@example.com\") { id expiresAt } }", json!({}), Some(&root)).await;
    assert!(invite["data"]["inviteUser"]["expiresAt"].is_string(), "{invite}");
    let token = app.invite_token_for("late@example.com").await;
    app.clock.advance(chrono::Duration::days(7) + chrono::Duration::minutes(1));
    let body = app
        .gql(
            "mutation($t: String!) { createUser(email: \"late@example.com\", password: \"correct horse\", inviteToken: $t) { user { id } } }",
            json!({"t": token}),
            None,
        )
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    assert_eq!(body["errors"][0]["extensions"]["field"], "inviteToken");
    assert_eq!(app.count("SELECT count(*) AS n FROM users").await, 1);
}

#[tokio::test]
async fn existing_users_accept_invites_addressed_to_them() {
    let app = public_app().await;
    let root = app.with_owners().await;
    let (bob, _) = app.sign_up("bob@example.com", "correct horse battery").await;
    let invite = app.gql("mutation { inviteUser(email: \"carol@example.com\") { id } }", json!({}), Some(&root)).await;
    assert!(invite["data"]["inviteUser"]["id"].is_string(), "{invite}");
    let token = app.invite_token_for("carol@example.com").await;
    let refused =
        app.gql("mutation($t: String!) { acceptInvite(token: $t) { id } }", json!({"t": token}), Some(&bob)).await;
    assert_eq!(error_code(&refused), "BAD_USER_INPUT", "an invite sent to someone else");
    let existing = app.gql("mutation { inviteUser(email: \"bob@example.com\") { id } }", json!({}), Some(&root)).await;
    assert_eq!(error_code(&existing), "CONFLICT", "inviting an existing user");

    // Bob accepts an invite sent to a second address of his. (Adding addresses has no API yet; the row
    // stands in for it.)
    let invite =
        app.gql("mutation { inviteUser(email: \"bob.alias@example.com\") { id } }", json!({}), Some(&root)).await;
    assert!(invite["data"]["inviteUser"]["id"].is_string(), "{invite}");
    let token = app.invite_token_for("bob.alias@example.com").await;
    let bob_id = app.text("SELECT id::text AS t FROM users WHERE username = 'bob@example.com'").await;
    app.text(&format!(
        "WITH e AS (INSERT INTO emails (id, user_id, address) VALUES (gen_random_uuid(), '{bob_id}', 'bob.alias@example.com')) SELECT NULL::text AS t"
    ))
    .await;
    let body =
        app.gql("mutation($t: String!) { acceptInvite(token: $t) { email } }", json!({"t": token}), Some(&bob)).await;
    assert_eq!(body["data"]["acceptInvite"]["email"], "bob.alias@example.com", "{body}");
    assert_eq!(app.count("SELECT count(*) AS n FROM invites").await, 1, "only carol's invite is left");
}

#[tokio::test]
async fn naming_another_workspaces_user_or_invite_is_not_found() {
    let app = public_app().await;
    let root = app.with_owners().await;
    let (alice, _) = app.sign_up("alice@example.com", "correct horse battery").await;
    let (_, bob_id) = app.sign_up("bob@example.com", "correct horse battery").await;
    let a = app.create_workspace(&alice, "A").await;
    let b = app.create_workspace(&root, "B").await;
    app.add_to_workspace(&root, &b, "bob@example.com", "WORKSPACE_VIEWER").await;
    app.add_to_workspace(&root, &b, "pending@example.com", "WORKSPACE_VIEWER").await;
    let invite_of_b = app.text(&format!("SELECT id::text AS t FROM invites WHERE workspace_id = '{b}'")).await;
    let before = app.access_snapshot().await;

    let cases: Vec<(&str, Value)> = vec![
        (
            "mutation($a: Uuid!, $u: Uuid!) { workspaceRemoveUser(workspaceUuid: $a, userUuid: $u) { id } }",
            json!({"a": a, "u": bob_id}),
        ),
        (
            "mutation($a: Uuid!) { workspaceUpdateUserRole(workspaceUuid: $a, email: \"bob@example.com\", role: WORKSPACE_ADMIN) }",
            json!({"a": a}),
        ),
        (
            "query($a: Uuid!, $u: Id!) { workspaceUser(workspaceUuid: $a, user: {userId: $u}) { id } }",
            json!({"a": a, "u": bob_id}),
        ),
        (
            "mutation($a: Uuid!, $i: Uuid!) { deleteInviteToken(inviteUuid: $i, workspaceUuid: $a) { id } }",
            json!({"a": a, "i": invite_of_b}),
        ),
    ];
    for (query, variables) in cases {
        let body = app.gql(query, variables, Some(&alice)).await;
        assert_eq!(error_code(&body), "NOT_FOUND", "{query}: {body}");
    }
    // Without naming her own workspace, the invite of B is simply not hers to touch.
    let body = app
        .gql(
            "mutation($i: Uuid!) { deleteInviteToken(inviteUuid: $i) { id } }",
            json!({"i": invite_of_b}),
            Some(&alice),
        )
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    assert_eq!(app.access_snapshot().await, before, "nothing changed");
}

#[tokio::test]
async fn the_last_admins_are_kept() {
    let app = public_app().await;
    let root = app.with_owners().await;
    let (alice, alice_id) = app.sign_up("alice@example.com", "correct horse battery").await;
    let workspace = app.create_workspace(&alice, "Solo").await;
    let demote = app
        .gql(
            "mutation($w: Uuid!) { workspaceUpdateUserRole(workspaceUuid: $w, email: \"alice@example.com\", role: WORKSPACE_VIEWER) }",
            json!({"w": workspace}),
            Some(&alice),
        )
        .await;
    assert_eq!(error_code(&demote), "CONFLICT");
    let remove = app
        .gql(
            "mutation($w: Uuid!, $u: Uuid!) { workspaceRemoveUser(workspaceUuid: $w, userUuid: $u) { id } }",
            json!({"w": workspace, "u": alice_id}),
            Some(&root),
        )
        .await;
    assert_eq!(error_code(&remove), "CONFLICT");
    let delete_user =
        app.gql("mutation($u: Uuid!) { removeUser(userUuid: $u) { id } }", json!({"u": alice_id}), Some(&root)).await;
    assert_eq!(error_code(&delete_user), "CONFLICT", "the only admin of a workspace cannot be deleted");

    let root_id = app.text("SELECT id::text AS t FROM users WHERE username = 'root@example.com'").await;
    let last = app
        .gql(
            "mutation($u: Uuid!) { deleteSystemRoleBinding(userId: $u, role: SYSTEM_ADMIN) { role } }",
            json!({"u": root_id}),
            Some(&root),
        )
        .await;
    assert_eq!(error_code(&last), "CONFLICT", "the installation keeps a system admin");
    assert_eq!(app.count("SELECT count(*) AS n FROM role_bindings WHERE role = 'SYSTEM_ADMIN'").await, 1);
}

/// `workspaceUpdateUserRole` demoting `victim` to viewer, sent as `token` on its own task.
fn demote(app: &TestApp, token: &str, workspace: &str, victim: &str) -> tokio::task::JoinHandle<Value> {
    let request = app.client.post(format!("{}/v1", app.base)).header("Authorization", token).json(&json!({
        "query": "mutation($w: Uuid!, $e: String!) { workspaceUpdateUserRole(workspaceUuid: $w, email: $e, role: WORKSPACE_VIEWER) }",
        "variables": {"w": workspace, "e": format!("{victim}@example.com")}
    }));
    tokio::spawn(async move { request.send().await.unwrap().json().await.unwrap() })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn admins_demoting_each_other_at_once_leave_one_admin() {
    let app = public_app().await;
    let root = app.with_owners().await;
    let mut admins = Vec::new();
    for name in ["a", "b", "c", "d"] {
        let (token, _) = app.sign_up(&format!("{name}@example.com"), "correct horse battery").await;
        admins.push((name, token));
    }
    for round in 0..4 {
        let workspace = app.create_workspace(&root, &format!("race-{round}")).await;
        for (name, _) in &admins {
            app.add_to_workspace(&root, &workspace, &format!("{name}@example.com"), "WORKSPACE_ADMIN").await;
        }
        // root created the workspace and is an admin too: make the four the only admins.
        let root_id = app.text("SELECT id::text AS t FROM users WHERE username = 'root@example.com'").await;
        app.gql(
            "mutation($w: Uuid!, $u: Uuid!) { workspaceRemoveUser(workspaceUuid: $w, userUuid: $u) { id } }",
            json!({"w": workspace, "u": root_id}),
            Some(&admins[0].1),
        )
        .await;
        // Everyone demotes the next one, all at once.
        let tasks: Vec<_> = admins
            .iter()
            .enumerate()
            .map(|(index, (_, token))| demote(&app, token, &workspace, admins[(index + 1) % admins.len()].0))
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let remaining = app
            .count(&format!(
                "SELECT count(*) AS n FROM role_bindings WHERE workspace_id = '{workspace}' AND role = 'WORKSPACE_ADMIN' AND user_id IS NOT NULL"
            ))
            .await;
        assert!(remaining >= 1, "round {round}: the workspace kept an admin");
    }
    // Two admins demoting each other: exactly one wins.
    let workspace = app.create_workspace(&admins[0].1, "pair").await;
    app.add_to_workspace(&admins[0].1, &workspace, "b@example.com", "WORKSPACE_ADMIN").await;
    let (first, second) = (demote(&app, &admins[0].1, &workspace, "b"), demote(&app, &admins[1].1, &workspace, "a"));
    let results = [first.await.unwrap(), second.await.unwrap()];
    let wins = results.iter().filter(|body| body.get("errors").is_none()).count();
    assert_eq!(wins, 1, "exactly one wins: {results:?}");
    // The loser is refused either by the invariant (CONFLICT) or, when it arrived after the winner had
    // committed, because it is no longer an admin (FORBIDDEN).
    let loser = results.iter().find(|body| body.get("errors").is_some()).unwrap();
    assert!(["CONFLICT", "FORBIDDEN"].contains(&error_code(loser)), "{loser}");
    let admins = app
        .count(&format!(
            "SELECT count(*) AS n FROM role_bindings WHERE workspace_id = '{workspace}' AND role = 'WORKSPACE_ADMIN' AND user_id IS NOT NULL"
        ))
        .await;
    assert_eq!(admins, 1);
}

#[tokio::test]
async fn nobody_grants_more_than_they_hold() {
    // An operator lets workspace editors manage members; they still cannot make admins.
    let roles_file = std::env::temp_dir().join(format!("capcom-roles-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&roles_file, r#"{"WORKSPACE_EDITOR": {"add": ["workspace.iam.update"]}}"#).unwrap();
    let path = roles_file.clone();
    let app = TestApp::spawn_with(move |config| {
        config.public_signups = true;
        config.roles_file = Some(path);
    })
    .await;
    let root = app.with_owners().await;
    let (editor, editor_id) = app.sign_up("editor@example.com", "correct horse battery").await;
    app.sign_up("newbie@example.com", "correct horse battery").await;
    let workspace = app.create_workspace(&root, "W").await;
    app.add_to_workspace(&root, &workspace, "editor@example.com", "WORKSPACE_EDITOR").await;

    let admin = app.add_to_workspace(&editor, &workspace, "newbie@example.com", "WORKSPACE_ADMIN").await;
    assert_eq!(error_code(&admin), "FORBIDDEN", "an editor cannot grant admin");
    let viewer = app.add_to_workspace(&editor, &workspace, "newbie@example.com", "WORKSPACE_VIEWER").await;
    assert!(viewer.get("errors").is_none(), "but can grant what it holds: {viewer}");

    // A system editor can grant system viewer, not system admin.
    app.grant_system_role(&root, &editor_id, "SYSTEM_EDITOR").await;
    let newbie_id = app.text("SELECT id::text AS t FROM users WHERE username = 'newbie@example.com'").await;
    let body = app.grant_system_role(&editor, &newbie_id, "SYSTEM_ADMIN").await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    let body = app.grant_system_role(&editor, &newbie_id, "SYSTEM_VIEWER").await;
    assert!(body.get("errors").is_none(), "{body}");
    let body = app.grant_system_role(&editor, &newbie_id, "WORKSPACE_ADMIN").await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "a workspace role is no system role");
    std::fs::remove_file(roles_file).ok();
}

#[tokio::test]
async fn a_bad_roles_file_stops_start_up_with_a_clear_message() {
    let roles_file = std::env::temp_dir().join(format!("capcom-roles-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&roles_file, r#"{"WORKSPACE_EDITOR": {"add": ["system.iam.update"]}}"#).unwrap();
    let mut config = test_config();
    config.roles_file = Some(roles_file.clone());
    let error = capcom::app_state(config, "postgres://unused", capcom::state::Clock::system()).err().expect("refused");
    assert!(error.to_string().contains("system.iam.update"), "{error}");
    std::fs::remove_file(roles_file).ok();
}

#[tokio::test]
async fn the_matrix_can_be_read_asked_and_explained() {
    let app = public_app().await;
    let root = app.with_owners().await;
    let (viewer, _) = app.sign_up("viewer@example.com", "correct horse battery").await;
    let workspace = app.create_workspace(&root, "W").await;
    app.add_to_workspace(&root, &workspace, "viewer@example.com", "WORKSPACE_VIEWER").await;

    let roles = app.gql("{ roles { role scope permissions } }", json!({}), Some(&viewer)).await;
    let editor =
        roles["data"]["roles"].as_array().unwrap().iter().find(|r| r["role"] == "WORKSPACE_EDITOR").unwrap().clone();
    assert!(editor["permissions"].as_array().unwrap().contains(&json!("workspace.deployments.create")));

    let body = app
        .gql(
            "query($w: Uuid!) { yes: can(permission: \"workspace.users.get\", scopeId: $w) no: can(permission: \"workspace.iam.update\", scopeId: $w) }",
            json!({"w": workspace}),
            Some(&viewer),
        )
        .await;
    assert_eq!(body["data"], json!({"yes": true, "no": false}));
    let explained = app
        .gql(
            "query($w: Uuid!) { explainPermission(permission: \"workspace.iam.update\", scopeId: $w) { granted explanation } }",
            json!({"w": workspace}),
            Some(&viewer),
        )
        .await;
    assert_eq!(explained["data"]["explainPermission"]["granted"], false);
    assert!(explained["data"]["explainPermission"]["explanation"].as_str().unwrap().contains("WORKSPACE_VIEWER"));

    // An organization owner holds WORKSPACE_ADMIN on every workspace of the organization, implied.
    let (owner2, _) = (app.sign_in("owner2@example.com", "correct horse battery").await, ());
    let owner2 = owner2["data"]["createToken"]["token"]["value"].as_str().unwrap().to_owned();
    let explained = app
        .gql(
            "query($w: Uuid!) { explainPermission(permission: \"workspace.iam.update\", scopeId: $w) { granted role explanation } }",
            json!({"w": workspace}),
            Some(&owner2),
        )
        .await;
    assert_eq!(explained["data"]["explainPermission"]["granted"], true, "{explained}");
    assert!(explained["data"]["explainPermission"]["explanation"].as_str().unwrap().contains("ORGANIZATION_OWNER"));

    let bad = app.gql("{ can(permission: \"everything\") }", json!({}), Some(&viewer)).await;
    assert_eq!(error_code(&bad), "BAD_USER_INPUT");
}

/// Statements the server ran while answering one request.
async fn statements_for(app: &TestApp, query: &str, token: &str) -> u64 {
    let before = app.state.statements.load(Ordering::SeqCst);
    let body = app.gql(query, json!({}), Some(token)).await;
    assert!(body.get("errors").is_none(), "{body}");
    app.state.statements.load(Ordering::SeqCst) - before
}

/// What `QUERY` below costs, whatever the number of workspaces: the principal with its bindings (1), the
/// workspace list (1), then one statement per kind of row and wave of loads: users, roleBindings, invites
/// of the workspaces (3; the users holding the workspace's bindings are its members, loaded by the same
/// statement as `users`); emails and roleBindings of those users, the workspaces of those invites (3); the
/// workspaces of the users' bindings (1).
const STATEMENTS: u64 = 9;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_workspace_lists_cost_a_constant_number_of_statements() {
    const QUERY: &str = "{ workspaces { id label users { username emails { address } roleBindings { role workspace { label } } } \
                         roleBindings { role user { username } } invites { email workspace { id } } } }";
    let app = public_app().await;
    let root = app.with_owners().await;
    let mut counts = Vec::new();
    let mut created = 0;
    for target in [1, 10, 50] {
        while created < target {
            let workspace = app.create_workspace(&root, &format!("ws-{created}")).await;
            let email = format!("member{created}@example.com");
            app.sign_up(&email, "correct horse battery").await;
            app.add_to_workspace(&root, &workspace, &email, "WORKSPACE_EDITOR").await;
            app.add_to_workspace(&root, &workspace, &format!("invitee{created}@example.com"), "WORKSPACE_VIEWER").await;
            created += 1;
        }
        let body = app.gql("{ workspaces { id } }", json!({}), Some(&root)).await;
        assert_eq!(body["data"]["workspaces"].as_array().unwrap().len(), target);
        counts.push((target, statements_for(&app, QUERY, &root).await));
    }
    for (workspaces, statements) in &counts {
        assert_eq!(*statements, STATEMENTS, "{workspaces} workspaces; all: {counts:?}");
    }
}

/// With public sign-ups, signing up with an invited address does not take the invite's roles unless the
/// sign-up carries the invite's token (proof of reading that mailbox); the invite stays pending.
#[tokio::test]
async fn a_public_sign_up_does_not_take_over_invites_without_their_token() {
    let app = public_app().await;
    let root = app.with_owners().await;
    let workspace = app.create_workspace(&root, "Data").await;
    let invited = app.add_to_workspace(&root, &workspace, "invitee@example.com", "WORKSPACE_ADMIN").await;
    assert!(invited.get("errors").is_none(), "{invited}");
    let (squatter, _) = app.sign_up("invitee@example.com", "correct horse battery").await;
    let body = app
        .gql("query($w: Uuid!) { workspace(workspaceUuid: $w) { id } }", json!({"w": workspace}), Some(&squatter))
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
    assert_eq!(app.count("SELECT count(*) AS n FROM invites WHERE email = 'invitee@example.com'").await, 1);

    // With the token (here from the outbox), the invite is applied at sign-up.
    app.add_to_workspace(&root, &workspace, "second@example.com", "WORKSPACE_EDITOR").await;
    let mail = app.gql("{ mailOutbox { recipient body } }", json!({}), Some(&root)).await;
    let body =
        mail["data"]["mailOutbox"].as_array().unwrap().iter().find(|m| m["recipient"] == "second@example.com").unwrap()
            ["body"]
            .as_str()
            .unwrap()
            .to_owned();
    let token =
        body.split_whitespace().find(|w| w.starts_with("cci_")).unwrap().trim_end_matches(['.', ')']).to_owned();
    let signed_up = app
        .gql(
            "mutation($t: String!) { createUser(email: \"second@example.com\", password: \"correct horse battery\", inviteToken: $t) { token { value } } }",
            json!({"t": token}),
            None,
        )
        .await;
    let second = signed_up["data"]["createUser"]["token"]["value"].as_str().unwrap().to_owned();
    let body = app
        .gql("query($w: Uuid!) { workspace(workspaceUuid: $w) { id } }", json!({"w": workspace}), Some(&second))
        .await;
    assert_eq!(body["data"]["workspace"]["id"], workspace.as_str(), "{body}");
}

/// The last owner of an organization cannot be removed from the installation either.
#[tokio::test]
async fn removing_a_user_keeps_an_owner_in_every_organization() {
    let app = public_app().await;
    let root = app.with_owners().await;
    let (_, admin_id) = app.sign_up("admin@example.com", "correct horse battery").await;
    assert!(app.grant_system_role(&root, &admin_id, "SYSTEM_ADMIN").await.get("errors").is_none());
    let admin =
        app.sign_in("admin@example.com", "correct horse battery").await["data"]["createToken"]["token"]["value"]
            .as_str()
            .unwrap()
            .to_owned();
    let id_of =
        async |email: &str| app.text(&format!("SELECT user_id::text AS t FROM emails WHERE address = '{email}'")).await;
    let remove = "mutation($u: Uuid!) { removeUser(userUuid: $u) { id } }";
    for owner in ["owner2@example.com", "owner3@example.com"] {
        let removed = app.gql(remove, json!({"u": id_of(owner).await}), Some(&admin)).await;
        assert!(removed.get("errors").is_none(), "{removed}");
    }
    let root_id = id_of("root@example.com").await;
    let refused = app.gql(remove, json!({"u": root_id}), Some(&admin)).await;
    assert_eq!(error_code(&refused), "CONFLICT", "the organization's last owner: {refused}");
    assert_eq!(app.count(&format!("SELECT count(*) AS n FROM users WHERE id = '{root_id}'")).await, 1);
}

/// `can` and `explainPermission` grant nothing on what does not exist: every operation on a deleted
/// deployment answers NOT_FOUND, so `can` answers false there, for its admin and for the system admin,
/// and false for ids that name nothing, even for the system admin whose role reaches everything. A
/// system permission, which names no object, is still answered from the role. (Root created D, so its
/// DEPLOYMENT_ADMIN is what grants it there.)
#[tokio::test]
async fn can_grants_nothing_on_a_deleted_deployment_or_an_id_that_names_nothing() {
    let app = public_app().await;
    let root = app.with_owners().await;
    let (viewer, _) = app.sign_up("viewer@example.com", "correct horse battery").await;
    let workspace = app.create_workspace(&root, "W").await;
    let deployment = app.create_deployment(&root, &workspace, "D").await["id"].as_str().unwrap().to_owned();
    assert!(
        app.add_to_workspace(&root, &workspace, "viewer@example.com", "WORKSPACE_VIEWER").await.get("errors").is_none()
    );
    let ask = "query($d: Uuid, $w: Uuid, $x: Uuid) { \
        config: can(permission: \"deployment.config.get\", scopeId: $d) \
        workspace: can(permission: \"workspace.users.get\", scopeId: $w) \
        nothing: can(permission: \"deployment.config.get\", scopeId: $x) \
        noWorkspace: can(permission: \"workspace.users.get\", scopeId: $x) \
        noOrganization: can(permission: \"organization.users.get\", scopeId: $x) \
        explained: explainPermission(permission: \"deployment.config.get\", scopeId: $d) { granted role } }";
    let random = uuid::Uuid::new_v4().to_string();
    let vars = json!({"d": deployment, "w": workspace, "x": random});
    let before = app.gql(ask, vars.clone(), Some(&root)).await;
    assert_eq!(
        before["data"],
        json!({"config": true, "workspace": true, "nothing": false, "noWorkspace": false, "noOrganization": false,
               "explained": {"granted": true, "role": "DEPLOYMENT_ADMIN"}}),
        "{before}"
    );
    let viewer_before = app.gql(ask, vars.clone(), Some(&viewer)).await;
    assert_eq!(viewer_before["data"]["config"], true, "{viewer_before}");

    let deleted = app
        .gql(
            "mutation($d: Uuid!) { deleteDeployment(deploymentUuid: $d) { id } }",
            json!({"d": deployment}),
            Some(&root),
        )
        .await;
    assert!(deleted.get("errors").is_none(), "{deleted}");
    for token in [&root, &viewer] {
        let after = app.gql(ask, vars.clone(), Some(token)).await;
        assert_eq!(after["data"]["config"], false, "{after}");
        assert_eq!(after["data"]["workspace"], true, "the workspace is still there: {after}");
        assert_eq!(after["data"]["explained"], json!({"granted": false, "role": null}), "{after}");
    }
    let system = app.gql("{ can(permission: \"system.user.invite\") }", json!({}), Some(&root)).await;
    assert_eq!(system["data"]["can"], true, "{system}");
}
