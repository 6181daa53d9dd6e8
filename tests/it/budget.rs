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

/// What `astro workspace user list` sends (`bench/queries/members.graphql`).
const MEMBERS: &str = include_str!("../../bench/queries/members.graphql");

/// A workspace's members with their addresses and their bindings' workspaces cost one statement per
/// relation, however many members: the caller with its bindings (1); the workspace, whose row also gives
/// its organization for the read checks (1); its members (1); their emails and their bindings (2); the
/// bindings' workspaces, once for the whole list (1). Bindings on a workspace the caller may not read
/// are left out.
const MEMBERS_STATEMENTS: u64 = 6;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workspaces_members_cost_the_same_few_statements_at_any_size() {
    let app = TestApp::spawn_with(|config| config.public_signups = true).await;
    let root = app.with_owners().await;
    let (member, _) = app.sign_up("member@example.com", "correct horse battery").await;
    let shown = app.create_workspace(&root, "shown").await;
    let hidden = app.create_workspace(&root, "hidden").await;
    app.add_to_workspace(&root, &shown, "member@example.com", "WORKSPACE_VIEWER").await;
    let mut counts = Vec::new();
    let mut colleagues = 0;
    for target in [1, 4] {
        while colleagues < target {
            let colleague = format!("colleague{colleagues}@example.com");
            app.sign_up(&colleague, "correct horse battery").await;
            app.add_to_workspace(&root, &shown, &colleague, "WORKSPACE_EDITOR").await;
            app.add_to_workspace(&root, &hidden, &colleague, "WORKSPACE_ADMIN").await;
            colleagues += 1;
        }
        let before = app.state.statements.load(Ordering::SeqCst);
        let body = app.gql(MEMBERS, json!({"workspaceUuid": shown}), Some(&member)).await;
        let statements = app.state.statements.load(Ordering::SeqCst) - before;
        assert!(body.get("errors").is_none(), "{body}");
        let users = body["data"]["workspaceUsers"].as_array().unwrap();
        // The creator, the member and the colleagues.
        assert_eq!(users.len(), 2 + target, "{body}");
        for user in users.iter().filter(|user| user["emails"][0]["address"].as_str().unwrap().starts_with("colleague"))
        {
            let bindings = user["roleBindings"].as_array().unwrap();
            assert!(
                bindings.iter().any(|b| b["workspace"]["id"] == shown.as_str() && b["role"] == "WORKSPACE_EDITOR"),
                "{user}"
            );
            assert!(!bindings.iter().any(|b| b["workspace"]["id"] == hidden.as_str()), "{user}");
            assert!(!bindings.iter().any(|b| b["role"] == "WORKSPACE_ADMIN"), "{user}");
        }
        counts.push((target, statements));
    }
    for (colleagues, statements) in &counts {
        assert_eq!(*statements, MEMBERS_STATEMENTS, "{colleagues} colleagues; all: {counts:?}");
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

/// Statements the server ran while answering one request with `variables`, and the answer.
async fn cost_with(app: &TestApp, query: &str, variables: Value, token: Option<&str>) -> (u64, Value) {
    let before = app.state.statements.load(Ordering::SeqCst);
    let body = app.gql(query, variables, token).await;
    assert!(body.get("errors").is_none(), "{body}");
    (app.state.statements.load(Ordering::SeqCst) - before, body)
}

/// Deployment roles given with a workspace role (`deploymentRoles` of `workspaceAddUser` and
/// `workspaceAddTeam`; issue 26 §4, docs/custom-roles.md) are decided and written together: five items,
/// built-in and custom, cost the statements one item costs, whether a member is added at once, someone
/// outside the organization is invited, a team is added, or the invite is accepted (`acceptInvite`:
/// a sign-up would add the sign-in throttle's occasional clean-up, which has nothing to do with roles).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployment_roles_given_with_a_workspace_role_cost_the_same_for_one_item_as_for_five() {
    const PASSWORD: &str = "correct horse battery";
    let app = TestApp::spawn_with(|config| config.public_signups = true).await;
    app.with_owners().await;
    let owner = app.sign_in("owner2@example.com", PASSWORD).await;
    let owner = owner["data"]["createToken"]["token"]["value"].as_str().unwrap().to_owned();
    let orgs = app.gql("{ organizations { id } }", json!({}), Some(&owner)).await;
    let org = orgs["data"]["organizations"][0]["id"].as_str().unwrap().to_owned();
    let remove = "mutation($o: Uuid!, $u: Uuid!) { organizationRemoveUser(organizationUuid: $o, userUuid: $u) }";
    for size in ["one", "five"] {
        app.sign_up(&format!("member-{size}@example.com"), PASSWORD).await;
        // Someone with an account outside the organization: invited, then accepting.
        let (_, outsider) = app.sign_up(&format!("outsider-{size}@example.com"), PASSWORD).await;
        let removed = app.gql(remove, json!({"o": org, "u": outsider}), Some(&owner)).await;
        assert!(removed.get("errors").is_none(), "{removed}");
    }
    let workspace = app.create_workspace(&owner, "W").await;
    let mut deployments = Vec::new();
    for index in 0..5 {
        deployments.push(app.create_deployment(&owner, &workspace, &format!("d{index}")).await["id"].clone());
    }
    let mut custom = Vec::new();
    for name in ["Operator", "Watcher", "Deployer"] {
        let created = app
            .gql(
                "mutation($org: Uuid!, $n: String!) { createCustomRole(organizationUuid: $org, scope: DEPLOYMENT, name: $n, permissions: [\"deployment.config.get\", \"deployment.config.update\"]) { id } }",
                json!({"org": org, "n": name}),
                Some(&owner),
            )
            .await;
        let id = created["data"]["createCustomRole"]["id"].as_str().unwrap_or_else(|| panic!("{created}"));
        custom.push(id.to_owned());
    }
    let one = json!([{"deploymentId": deployments[0], "customRoleUuid": custom[0]}]);
    let five = json!([
        {"deploymentId": deployments[0], "customRoleUuid": custom[0]},
        {"deploymentId": deployments[1], "role": "DEPLOYMENT_VIEWER"},
        {"deploymentId": deployments[2], "customRoleUuid": custom[1]},
        {"deploymentId": deployments[3], "role": "DEPLOYMENT_EDITOR"},
        {"deploymentId": deployments[4], "customRoleUuid": custom[2]},
    ]);
    let add_user = "mutation($w: Uuid!, $e: String!, $d: [DeploymentRoles!]) { workspaceAddUser(workspaceUuid: $w, email: $e, role: WORKSPACE_VIEWER, deploymentRoles: $d) { id } }";
    let add_team = "mutation($w: Uuid!, $t: Uuid!, $d: [DeploymentRoles!]) { workspaceAddTeam(workspaceUuid: $w, teamUuid: $t, role: WORKSPACE_VIEWER, deploymentRoles: $d) { id } }";
    let accept = "mutation($t: String!) { acceptInvite(token: $t) { id } }";
    let mut counts = Vec::new();
    for (size, items) in [("one", &one), ("five", &five)] {
        let member = format!("member-{size}@example.com");
        let (added, _) =
            cost_with(&app, add_user, json!({"w": workspace, "e": member, "d": items}), Some(&owner)).await;
        let outsider = format!("outsider-{size}@example.com");
        let (invited, _) =
            cost_with(&app, add_user, json!({"w": workspace, "e": outsider, "d": items}), Some(&owner)).await;
        let team = app
            .gql(
                "mutation($org: Uuid!, $n: String!) { createTeam(organizationUuid: $org, name: $n) { id } }",
                json!({"org": org, "n": format!("team-{size}")}),
                Some(&owner),
            )
            .await;
        let team = team["data"]["createTeam"]["id"].as_str().unwrap().to_owned();
        let (team_added, _) =
            cost_with(&app, add_team, json!({"w": workspace, "t": team, "d": items}), Some(&owner)).await;
        let token = app.invite_token_for(&outsider).await;
        let signed_in = app.sign_in(&outsider, PASSWORD).await;
        let outsider_token = signed_in["data"]["createToken"]["token"]["value"].as_str().unwrap().to_owned();
        let (accepted, _) = cost_with(&app, accept, json!({"t": token}), Some(&outsider_token)).await;
        counts.push((size, [added, invited, team_added, accepted]));
    }
    // Each was granted: one binding per item for each member, outsider and team.
    let custom_held =
        "SELECT count(*) AS n FROM role_bindings WHERE scope = 'DEPLOYMENT' AND custom_role_id IS NOT NULL";
    assert_eq!(app.count(custom_held).await, 3 * (1 + 3), "{counts:?}");
    let built_in_held =
        "SELECT count(*) AS n FROM role_bindings WHERE role IN ('DEPLOYMENT_VIEWER', 'DEPLOYMENT_EDITOR')";
    assert_eq!(app.count(built_in_held).await, 3 * 2, "{counts:?}");
    eprintln!("deploymentRoles, statements with one item and with five: {counts:?}");
    let (with_one, with_five) = (counts[0].1, counts[1].1);
    let operations =
        ["workspaceAddUser (a member)", "workspaceAddUser (an invite)", "workspaceAddTeam", "acceptInvite"];
    for (index, what) in operations.iter().enumerate() {
        assert_eq!(with_one[index], with_five[index], "{what}: one item vs five; all: {counts:?}");
    }
}
