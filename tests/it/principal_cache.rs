//! Remembered bindings never outlive a change (docs/limits.md, "Principals"; SPEC §2, §3). A caller whose
//! bindings this process holds sees every change of them on its very next request: a grant, a removal, a
//! role change, joining or leaving a team, a team gaining or losing a role, a custom role's permissions,
//! an organization's IP access list, a system role, an API key's role. Each test first shows that the
//! bindings are held (the next request reuses them rather than loading them), then changes them and
//! expects the answer SPEC §2 gives for the new state. Expectations are written from SPEC, not from the
//! code.

use serde_json::{Value, json};

use crate::common::{TestApp, error_code, error_message};

const PASSWORD: &str = "correct horse battery";
/// A workspace read: needs `workspace.config.get` on it (WORKSPACE_VIEWER and up, SPEC §2).
const READ: &str = "query($w: Uuid!) { workspace(workspaceUuid: $w) { id } }";
/// A workspace write: needs `workspace.config.update` (WORKSPACE_EDITOR and up).
const WRITE: &str =
    "mutation($w: Uuid!) { updateWorkspace(workspaceUuid: $w, payload: {description: \"edited\"}) { id } }";

fn data(body: &Value) -> &Value {
    assert!(body.get("errors").is_none(), "unexpected errors: {body}");
    &body["data"]
}

/// The world: root (system admin, owner), owner2 (owner), mia (a plain organization member), a workspace
/// W created by root, a team T in the default organization with no roles and no members.
pub(crate) struct World {
    pub(crate) app: TestApp,
    pub(crate) root: String,
    pub(crate) owner: String,
    pub(crate) mia: String,
    pub(crate) mia_id: String,
    pub(crate) org: String,
    pub(crate) workspace: String,
    pub(crate) team: String,
}

pub(crate) async fn world_on(app: TestApp) -> World {
    let root = app.with_owners().await;
    let owner = app.sign_in("owner2@example.com", PASSWORD).await;
    let owner = owner["data"]["createToken"]["token"]["value"].as_str().unwrap().to_owned();
    let (mia, mia_id) = app.sign_up("mia@example.com", PASSWORD).await;
    let orgs = app.gql("{ organizations { id } }", json!({}), Some(&owner)).await;
    let org = data(&orgs)["organizations"][0]["id"].as_str().unwrap().to_owned();
    let workspace = app.create_workspace(&root, "W").await;
    let team = app
        .gql(
            "mutation($o: Uuid!) { createTeam(organizationUuid: $o, name: \"Readers\") { id } }",
            json!({"o": org}),
            Some(&owner),
        )
        .await;
    let team = data(&team)["createTeam"]["id"].as_str().unwrap().to_owned();
    World { app, root, owner, mia, mia_id, org, workspace, team }
}

async fn world() -> World {
    let app = TestApp::spawn_with(|config| {
        config.public_signups = true;
        config.trusted_proxies = "127.0.0.1/32".parse().unwrap();
    })
    .await;
    world_on(app).await
}

/// Whether `app` lets `token` read workspace `workspace`: `true` with the workspace in `data`, `false` with
/// FORBIDDEN (anything else fails the test).
pub(crate) async fn reads(app: &TestApp, token: &str, workspace: &str) -> bool {
    let body = app.gql(READ, json!({"w": workspace}), Some(token)).await;
    if body.get("errors").is_some() {
        assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
        return false;
    }
    assert_eq!(body["data"]["workspace"]["id"], json!(workspace), "{body}");
    true
}

/// Whether `token` may edit the workspace (FORBIDDEN otherwise).
async fn writes(w: &World, token: &str) -> bool {
    let body = w.app.gql(WRITE, json!({"w": w.workspace}), Some(token)).await;
    if body.get("errors").is_some() {
        assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
        return false;
    }
    true
}

/// Asserts that `app` holds the bindings of `token`'s principal: a request reuses them and packs none.
pub(crate) async fn assert_held(app: &TestApp, token: &str) {
    let cache = &app.state.principals;
    let (packed, reused) = (cache.packed_count(), cache.reused_count());
    app.gql("{ appConfig { version } }", json!({}), Some(token)).await;
    assert_eq!(cache.packed_count(), packed, "held bindings are not packed again");
    assert_eq!(cache.reused_count(), reused + 1, "held bindings are reused");
}

impl World {
    async fn ok(&self, token: &str, query: &str, variables: Value) -> Value {
        let body = self.app.gql(query, variables, Some(token)).await;
        data(&body).clone()
    }

    async fn add_mia(&self, role: &str) {
        let body = self.app.add_to_workspace(&self.root, &self.workspace, "mia@example.com", role).await;
        data(&body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_grant_role_change_and_removal_are_seen_on_the_next_request() {
    let w = world().await;
    assert!(!reads(&w.app, &w.mia, &w.workspace).await, "a plain member cannot read W");
    assert_held(&w.app, &w.mia).await;
    w.add_mia("WORKSPACE_VIEWER").await;
    assert!(reads(&w.app, &w.mia, &w.workspace).await, "granted: readable at once");
    assert!(!writes(&w, &w.mia).await, "a viewer cannot edit");
    assert_held(&w.app, &w.mia).await;
    let promote = "mutation($w: Uuid!, $e: String!) { workspaceUpdateUserRole(workspaceUuid: $w, email: $e, role: WORKSPACE_EDITOR) }";
    w.ok(&w.root, promote, json!({"w": w.workspace, "e": "mia@example.com"})).await;
    assert!(writes(&w, &w.mia).await, "promoted to editor: can edit at once");
    assert_held(&w.app, &w.mia).await;
    let demote = "mutation($w: Uuid!, $e: String!) { workspaceUpdateUserRole(workspaceUuid: $w, email: $e, role: WORKSPACE_VIEWER) }";
    w.ok(&w.root, demote, json!({"w": w.workspace, "e": "mia@example.com"})).await;
    assert!(!writes(&w, &w.mia).await, "demoted to viewer: editing refused at once");
    assert_held(&w.app, &w.mia).await;
    let remove = "mutation($w: Uuid!, $u: Uuid!) { workspaceRemoveUser(workspaceUuid: $w, userUuid: $u) { id } }";
    w.ok(&w.root, remove, json!({"w": w.workspace, "u": w.mia_id})).await;
    assert!(!reads(&w.app, &w.mia, &w.workspace).await, "removed: refused at once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joining_and_leaving_a_team_are_seen_on_the_next_request() {
    let w = world().await;
    let add_team = "mutation($w: Uuid!, $t: Uuid!) { workspaceAddTeam(workspaceUuid: $w, teamUuid: $t, role: WORKSPACE_VIEWER) { id } }";
    w.ok(&w.root, add_team, json!({"w": w.workspace, "t": w.team})).await;
    assert!(!reads(&w.app, &w.mia, &w.workspace).await, "not in the team");
    assert_held(&w.app, &w.mia).await;
    let join = "mutation($t: Uuid!, $u: Uuid!) { teamAddUser(teamUuid: $t, userUuid: $u) { id } }";
    w.ok(&w.owner, join, json!({"t": w.team, "u": w.mia_id})).await;
    assert!(reads(&w.app, &w.mia, &w.workspace).await, "joined: the team's role counts at once");
    assert_held(&w.app, &w.mia).await;
    let leave = "mutation($t: Uuid!, $u: Uuid!) { teamRemoveUser(teamUuid: $t, userUuid: $u) { id } }";
    w.ok(&w.owner, leave, json!({"t": w.team, "u": w.mia_id})).await;
    assert!(!reads(&w.app, &w.mia, &w.workspace).await, "left: the team's role is gone at once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_team_gaining_and_losing_a_role_is_seen_by_its_members_on_the_next_request() {
    let w = world().await;
    let join = "mutation($t: Uuid!, $u: Uuid!) { teamAddUser(teamUuid: $t, userUuid: $u) { id } }";
    w.ok(&w.owner, join, json!({"t": w.team, "u": w.mia_id})).await;
    assert!(!reads(&w.app, &w.mia, &w.workspace).await, "the team holds no role yet");
    assert_held(&w.app, &w.mia).await;
    let add_team = "mutation($w: Uuid!, $t: Uuid!) { workspaceAddTeam(workspaceUuid: $w, teamUuid: $t, role: WORKSPACE_VIEWER) { id } }";
    w.ok(&w.root, add_team, json!({"w": w.workspace, "t": w.team})).await;
    assert!(reads(&w.app, &w.mia, &w.workspace).await, "the team's new role counts at once");
    assert_held(&w.app, &w.mia).await;
    let remove_team = "mutation($w: Uuid!, $t: Uuid!) { workspaceRemoveTeam(workspaceUuid: $w, teamUuid: $t) { id } }";
    w.ok(&w.root, remove_team, json!({"w": w.workspace, "t": w.team})).await;
    assert!(!reads(&w.app, &w.mia, &w.workspace).await, "the team's removed role is gone at once");
    assert_held(&w.app, &w.mia).await;
    // A team holding a system role: its member reads the system-wide user list, then no longer.
    let grant = "mutation($t: Uuid!) { createTeamSystemRoleBinding(teamUuid: $t, role: SYSTEM_VIEWER) { role } }";
    w.ok(&w.root, grant, json!({"t": w.team})).await;
    let users = w.app.gql("{ users { id } }", json!({}), Some(&w.mia)).await;
    assert!(users.get("errors").is_none(), "a system viewer lists users: {users}");
    assert_held(&w.app, &w.mia).await;
    let revoke = "mutation($t: Uuid!) { deleteTeamSystemRoleBinding(teamUuid: $t, role: SYSTEM_VIEWER) { role } }";
    w.ok(&w.root, revoke, json!({"t": w.team})).await;
    let users = w.app.gql("{ users { id } }", json!({}), Some(&w.mia)).await;
    assert_eq!(error_code(&users), "FORBIDDEN", "{users}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_roles_permissions_are_seen_by_its_holders_on_the_next_request() {
    let w = world().await;
    let create = "mutation($o: Uuid!, $p: [String!]!) { createCustomRole(organizationUuid: $o, scope: WORKSPACE, name: \"Reader\", permissions: $p) { id } }";
    let role = w.ok(&w.owner, create, json!({"o": w.org, "p": ["workspace.config.get"]})).await;
    let role = role["createCustomRole"]["id"].as_str().unwrap().to_owned();
    // Mia holds it directly; a team member holds it through the team.
    let add = "mutation($w: Uuid!, $e: String!, $c: Uuid!) { workspaceAddUser(workspaceUuid: $w, email: $e, customRoleUuid: $c) { id } }";
    w.ok(&w.root, add, json!({"w": w.workspace, "e": "mia@example.com", "c": role})).await;
    let (tom, tom_id) = w.app.sign_up("tom@example.com", PASSWORD).await;
    let join = "mutation($t: Uuid!, $u: Uuid!) { teamAddUser(teamUuid: $t, userUuid: $u) { id } }";
    w.ok(&w.owner, join, json!({"t": w.team, "u": tom_id})).await;
    let add_team = "mutation($w: Uuid!, $t: Uuid!, $c: Uuid!) { workspaceAddTeam(workspaceUuid: $w, teamUuid: $t, customRoleUuid: $c) { id } }";
    w.ok(&w.root, add_team, json!({"w": w.workspace, "t": w.team, "c": role})).await;
    for token in [&w.mia, &tom] {
        assert!(reads(&w.app, token, &w.workspace).await, "the role grants workspace.config.get");
        assert_held(&w.app, token).await;
    }
    let update =
        "mutation($id: Uuid!, $p: [String!]) { updateCustomRole(customRoleUuid: $id, permissions: $p) { id } }";
    w.ok(&w.owner, update, json!({"id": role, "p": ["workspace.users.get"]})).await;
    for token in [&w.mia, &tom] {
        assert!(!reads(&w.app, token, &w.workspace).await, "the permission left the role: refused at once");
        assert_held(&w.app, token).await;
    }
    w.ok(&w.owner, update, json!({"id": role, "p": ["workspace.config.get", "workspace.users.get"]})).await;
    for token in [&w.mia, &tom] {
        assert!(reads(&w.app, token, &w.workspace).await, "given back: readable at once");
    }
    // Deleting a role in use is CONFLICT (docs/custom-roles.md); once its bindings are removed, it goes
    // and so do they, which the removals above already show. Here: remove both, delete, and nothing is left.
    let remove = "mutation($w: Uuid!, $u: Uuid!) { workspaceRemoveUser(workspaceUuid: $w, userUuid: $u) { id } }";
    w.ok(&w.root, remove, json!({"w": w.workspace, "u": w.mia_id})).await;
    let remove_team = "mutation($w: Uuid!, $t: Uuid!) { workspaceRemoveTeam(workspaceUuid: $w, teamUuid: $t) { id } }";
    w.ok(&w.root, remove_team, json!({"w": w.workspace, "t": w.team})).await;
    w.ok(&w.owner, "mutation($id: Uuid!) { deleteCustomRole(customRoleUuid: $id) { id } }", json!({"id": role})).await;
    for token in [&w.mia, &tom] {
        assert!(!reads(&w.app, token, &w.workspace).await, "role deleted with its bindings: refused");
    }
}

/// Sends `query` as if from `address` (the trusted proxy at 127.0.0.1 forwards it).
async fn gql_from(app: &TestApp, address: &str, token: &str, query: &str, variables: Value) -> Value {
    let response = app
        .client
        .post(format!("{}/v1", app.base))
        .header("Authorization", token)
        .header("x-forwarded-for", address)
        .json(&json!({"query": query, "variables": variables}))
        .send()
        .await
        .unwrap();
    response.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organizations_ip_access_list_is_seen_on_the_next_request() {
    let w = world().await;
    w.add_mia("WORKSPACE_VIEWER").await;
    assert!(reads(&w.app, &w.mia, &w.workspace).await, "no list: readable from anywhere");
    assert_held(&w.app, &w.mia).await;
    // The owner, calling from 192.0.2.7, limits the organization to 192.0.2.0/24; mia calls from 127.0.0.1.
    let set = "mutation($o: Uuid!, $c: [String!]!) { updateOrganizationIpAccessList(organizationUuid: $o, cidrs: $c) }";
    let listed = gql_from(&w.app, "192.0.2.7", &w.owner, set, json!({"o": w.org, "c": ["192.0.2.0/24"]})).await;
    data(&listed);
    let refused = w.app.gql(READ, json!({"w": w.workspace}), Some(&w.mia)).await;
    assert_eq!(error_code(&refused), "FORBIDDEN", "{refused}");
    assert!(error_message(&refused).contains("IP access list"), "{refused}");
    assert_held(&w.app, &w.mia).await;
    let cleared = gql_from(&w.app, "192.0.2.7", &w.owner, set, json!({"o": w.org, "c": []})).await;
    data(&cleared);
    assert!(reads(&w.app, &w.mia, &w.workspace).await, "list lifted: readable again at once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_system_role_and_an_api_keys_role_are_seen_on_the_next_request() {
    let w = world().await;
    let users = w.app.gql("{ users { id } }", json!({}), Some(&w.mia)).await;
    assert_eq!(error_code(&users), "FORBIDDEN", "{users}");
    assert_held(&w.app, &w.mia).await;
    data(&w.app.grant_system_role(&w.root, &w.mia_id, "SYSTEM_VIEWER").await);
    let users = w.app.gql("{ users { id } }", json!({}), Some(&w.mia)).await;
    assert!(users.get("errors").is_none(), "granted SYSTEM_VIEWER: {users}");
    assert_held(&w.app, &w.mia).await;
    let revoke = "mutation($u: Uuid!) { deleteSystemRoleBinding(userId: $u, role: SYSTEM_VIEWER) { role } }";
    w.ok(&w.root, revoke, json!({"u": w.mia_id})).await;
    let users = w.app.gql("{ users { id } }", json!({}), Some(&w.mia)).await;
    assert_eq!(error_code(&users), "FORBIDDEN", "revoked: {users}");

    // An editor key edits the workspace; made a viewer, it no longer can.
    let create = "mutation($w: Uuid!) { createWorkspaceServiceAccount(label: \"ci\", workspaceUuid: $w, role: WORKSPACE_EDITOR) { id apiKey } }";
    let created = w.ok(&w.root, create, json!({"w": w.workspace})).await;
    let key = created["createWorkspaceServiceAccount"]["apiKey"].as_str().unwrap().to_owned();
    let account = created["createWorkspaceServiceAccount"]["id"].as_str().unwrap().to_owned();
    assert!(writes(&w, &key).await, "an editor key edits");
    assert_held(&w.app, &key).await;
    let demote = "mutation($s: Uuid!, $w: Uuid!) { updateWorkspaceServiceAccount(serviceAccountUuid: $s, workspaceUuid: $w, payload: {role: \"WORKSPACE_VIEWER\"}) { id } }";
    w.ok(&w.root, demote, json!({"s": account, "w": w.workspace})).await;
    assert!(!writes(&w, &key).await, "made a viewer: editing refused at once");
    assert!(reads(&w.app, &key, &w.workspace).await, "a viewer key still reads");
}
