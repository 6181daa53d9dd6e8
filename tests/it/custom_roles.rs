//! Custom roles (docs/custom-roles.md; issue 26 §4), over HTTP. Expectations are written from the issue
//! and SPEC §2 (the grant rule: nobody creates or assigns a role holding a permission they lack there), not
//! from the code: owners define roles from permission strings of one scope; a role is assignable where a
//! built-in role of its scope is (users, teams, invites, API keys) and only in its own organization; its
//! holders can do exactly what its permissions say; deleting a role in use is CONFLICT.

use serde_json::{Value, json};

use crate::common::{TestApp, error_code, error_message};

const PASSWORD: &str = "correct horse battery";

const CREATE: &str = "mutation($org: Uuid!, $scope: RoleScope!, $name: String!, $permissions: [String!]!) { createCustomRole(organizationUuid: $org, scope: $scope, name: $name, permissions: $permissions, description: \"made in a test\") { id name scope role permissions description } }";
const UPDATE: &str = "mutation($id: Uuid!, $permissions: [String!]) { updateCustomRole(customRoleUuid: $id, permissions: $permissions) { id permissions } }";
const DELETE: &str = "mutation($id: Uuid!) { deleteCustomRole(customRoleUuid: $id) { id name } }";
const ADD_USER: &str = "mutation($w: Uuid!, $email: String!, $custom: Uuid!) { workspaceAddUser(workspaceUuid: $w, email: $email, customRoleUuid: $custom) { id } }";
const UPDATE_USER: &str = "mutation($w: Uuid!, $email: String!, $role: Role, $custom: Uuid) { workspaceUpdateUserRole(workspaceUuid: $w, email: $email, role: $role, customRoleUuid: $custom) }";
const CREATE_DEPLOYMENT: &str =
    "mutation($w: Uuid!, $label: String!) { createDeployment(workspaceUuid: $w, label: $label) { id } }";
const UPDATE_WORKSPACE: &str =
    "mutation($w: Uuid!) { updateWorkspace(workspaceUuid: $w, payload: {description: \"changed\"}) { id } }";

fn data(body: &Value) -> &Value {
    assert!(body.get("errors").is_none(), "unexpected errors: {body}");
    &body["data"]
}

fn forbidden(body: &Value) {
    assert_eq!(error_code(body), "FORBIDDEN", "{body}");
}

fn bad_input(body: &Value, field: &str) {
    assert_eq!(error_code(body), "BAD_USER_INPUT", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
}

/// The world: root (system admin; owner of the default organization and of Acme), owner2 and owner3
/// (owners of the default organization), plain members alice, bob, carol and dave; workspace W (admin:
/// owner2) with deployment D.
struct World {
    app: TestApp,
    root: String,
    owner: String,
    org: String,
    acme: String,
    workspace: String,
    deployment: String,
    alice: String,
    bob: String,
    carol: String,
}

async fn world() -> World {
    let app = TestApp::spawn_with(|config| config.public_signups = true).await;
    let root = app.with_owners().await;
    let owner = app.sign_in("owner2@example.com", PASSWORD).await["data"]["createToken"]["token"]["value"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut members = Vec::new();
    for name in ["alice", "bob", "carol", "dave"] {
        members.push(app.sign_up(&format!("{name}@example.com"), PASSWORD).await.0);
    }
    let orgs = app.gql("{ organizations { id } }", json!({}), Some(&owner)).await;
    let org = data(&orgs)["organizations"][0]["id"].as_str().unwrap().to_owned();
    let acme = app.gql("mutation { createOrganization(name: \"Acme\") { id } }", json!({}), Some(&root)).await;
    let acme = data(&acme)["createOrganization"]["id"].as_str().unwrap().to_owned();
    let workspace = app.create_workspace(&owner, "W").await;
    let deployment = app.create_deployment(&owner, &workspace, "D").await["id"].as_str().unwrap().to_owned();
    let carol = members.remove(2);
    let bob = members.remove(1);
    let alice = members.remove(0);
    World { app, root, owner, org, acme, workspace, deployment, alice, bob, carol }
}

impl World {
    async fn create(&self, token: &str, org: &str, scope: &str, name: &str, permissions: &[&str]) -> Value {
        self.app
            .gql(CREATE, json!({"org": org, "scope": scope, "name": name, "permissions": permissions}), Some(token))
            .await
    }

    /// Creates a role as owner2 in the default organization; returns its id.
    async fn role(&self, scope: &str, name: &str, permissions: &[&str]) -> String {
        let body = self.create(&self.owner, &self.org, scope, name, permissions).await;
        data(&body)["createCustomRole"]["id"].as_str().unwrap().to_owned()
    }

    async fn assign(&self, token: &str, email: &str, role: &str) -> Value {
        self.app.gql(ADD_USER, json!({"w": self.workspace, "email": email, "custom": role}), Some(token)).await
    }
}

#[tokio::test]
async fn owners_define_roles_of_one_scope_members_read_them_and_names_are_unique() {
    let w = world().await;
    let created = w
        .create(&w.owner, &w.org, "WORKSPACE", "Deployer", &["workspace.config.get", "workspace.deployments.create"])
        .await;
    let role = &data(&created)["createCustomRole"];
    assert_eq!(role["scope"], "WORKSPACE");
    assert_eq!(role["role"], "WORKSPACE_CUSTOM");
    assert_eq!(role["permissions"], json!(["workspace.config.get", "workspace.deployments.create"]));
    assert_eq!(w.app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'customRole.create'").await, 1);

    // Permissions of another scope, unknown strings and an empty list name `permissions`.
    for (scope, permissions) in [
        ("WORKSPACE", vec!["deployment.config.get"]),
        ("WORKSPACE", vec!["organization.iam.update"]),
        ("WORKSPACE", vec!["system.users.get"]),
        ("DEPLOYMENT", vec!["workspace.config.get"]),
        ("WORKSPACE", vec!["workspace.everything.do"]),
        ("WORKSPACE", vec![]),
    ] {
        let body = w.create(&w.owner, &w.org, scope, "Other", &permissions).await;
        bad_input(&body, "permissions");
    }
    // Only workspace and deployment roles exist.
    bad_input(&w.create(&w.owner, &w.org, "ORGANIZATION", "Org", &["organization.config.get"]).await, "scope");
    // The same name again (whatever its case) in the same scope: CONFLICT; in the other scope: fine.
    let again = w.create(&w.owner, &w.org, "WORKSPACE", "deployer", &["workspace.config.get"]).await;
    assert_eq!(error_code(&again), "CONFLICT", "{again}");
    data(&w.create(&w.owner, &w.org, "DEPLOYMENT", "Deployer", &["deployment.config.get"]).await);

    // A member may read the organization's roles but not define one.
    forbidden(&w.create(&w.alice, &w.org, "WORKSPACE", "Mine", &["workspace.config.get"]).await);
    let listed = w
        .app
        .gql(
            "query($org: Uuid!) { customRoles(organizationUuid: $org) { name scope } }",
            json!({"org": w.org}),
            Some(&w.alice),
        )
        .await;
    assert_eq!(
        data(&listed)["customRoles"],
        json!([{"name": "Deployer", "scope": "WORKSPACE"}, {"name": "Deployer", "scope": "DEPLOYMENT"}])
    );
    let roles = w
        .app
        .gql(
            "query($org: Uuid!) { roles(organizationUuid: $org) { role name permissions } }",
            json!({"org": w.org}),
            Some(&w.alice),
        )
        .await;
    let roles = data(&roles)["roles"].as_array().unwrap().clone();
    assert!(roles.iter().any(|r| r["role"] == "WORKSPACE_CUSTOM" && r["name"] == "Deployer"), "{roles:?}");
    assert!(roles.iter().any(|r| r["role"] == "WORKSPACE_ADMIN"), "{roles:?}");
    // Acme's roles are not the default organization's members' business.
    forbidden(
        &w.app
            .gql(
                "query($org: Uuid!) { customRoles(organizationUuid: $org) { name } }",
                json!({"org": w.acme}),
                Some(&w.alice),
            )
            .await,
    );
    assert_eq!(w.app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'customRole.create'").await, 2);
}

#[tokio::test]
async fn templates_are_the_built_in_roles_of_the_scope() {
    let w = world().await;
    let body = w.app.gql("{ roleTemplates(scope: WORKSPACE) { role permissions } }", json!({}), Some(&w.alice)).await;
    let templates = data(&body)["roleTemplates"].as_array().unwrap().clone();
    let names: Vec<&str> = templates.iter().map(|t| t["role"].as_str().unwrap()).collect();
    assert_eq!(names, ["WORKSPACE_ADMIN", "WORKSPACE_EDITOR", "WORKSPACE_VIEWER"]);
    let viewer = &templates[2]["permissions"];
    assert!(viewer.as_array().unwrap().contains(&json!("workspace.config.get")), "{viewer}");
    assert!(!viewer.as_array().unwrap().contains(&json!("workspace.config.update")), "{viewer}");
    let deployment = w.app.gql("{ roleTemplates(scope: DEPLOYMENT) { role } }", json!({}), Some(&w.alice)).await;
    assert_eq!(data(&deployment)["roleTemplates"].as_array().unwrap().len(), 3);
    bad_input(&w.app.gql("{ roleTemplates(scope: SYSTEM) { role } }", json!({}), Some(&w.alice)).await, "scope");
}

#[tokio::test]
async fn a_custom_role_gives_its_holder_exactly_its_permissions_and_a_change_reaches_them() {
    let w = world().await;
    let deployer = w
        .role(
            "WORKSPACE",
            "Deployer",
            &["workspace.config.get", "workspace.deployments.get", "workspace.deployments.create"],
        )
        .await;
    data(&w.assign(&w.owner, "alice@example.com", &deployer).await);

    // The binding shows the marker and names its role.
    let me = w
        .app
        .gql("{ self { roleBindings { role customRole { id name permissions } } } }", json!({}), Some(&w.alice))
        .await;
    let bindings = data(&me)["self"]["roleBindings"].as_array().unwrap().clone();
    let custom = bindings.iter().find(|b| b["role"] == "WORKSPACE_CUSTOM").unwrap_or_else(|| panic!("{bindings:?}"));
    assert_eq!(custom["customRole"]["id"], deployer.as_str());
    assert_eq!(custom["customRole"]["name"], "Deployer");

    // Allowed: what the role holds; refused: the rest.
    data(&w.app.gql(CREATE_DEPLOYMENT, json!({"w": w.workspace, "label": "by-alice"}), Some(&w.alice)).await);
    forbidden(&w.app.gql(UPDATE_WORKSPACE, json!({"w": w.workspace}), Some(&w.alice)).await);
    let caps = w
        .app
        .gql("query($w: Uuid!) { workspace(workspaceUuid: $w) { workspaceCapabilities { canCreateDeployment canUpdateWorkspace canUpdateIAM } } }", json!({"w": w.workspace}), Some(&w.alice))
        .await;
    assert_eq!(
        data(&caps)["workspace"]["workspaceCapabilities"],
        json!({"canCreateDeployment": true, "canUpdateWorkspace": false, "canUpdateIAM": false})
    );
    // A workspace role implies nothing on the workspace's deployments.
    let deployment = w
        .app
        .gql(
            "query($d: Uuid!) { deploymentVariables(deploymentUuid: $d) { key } }",
            json!({"d": w.deployment}),
            Some(&w.alice),
        )
        .await;
    forbidden(&deployment);

    // Taking a permission away from the role takes it from every holder at once.
    let updated = w
        .app
        .gql(
            UPDATE,
            json!({"id": deployer, "permissions": ["workspace.config.get", "workspace.deployments.get"]}),
            Some(&w.owner),
        )
        .await;
    data(&updated);
    forbidden(&w.app.gql(CREATE_DEPLOYMENT, json!({"w": w.workspace, "label": "again"}), Some(&w.alice)).await);
    let permissions_invalid =
        w.app.gql(UPDATE, json!({"id": deployer, "permissions": ["deployment.config.get"]}), Some(&w.owner)).await;
    bad_input(&permissions_invalid, "permissions");
    forbidden(
        &w.app.gql(UPDATE, json!({"id": deployer, "permissions": ["workspace.config.get"]}), Some(&w.alice)).await,
    );
}

#[tokio::test]
async fn nobody_assigns_or_defines_a_role_holding_a_permission_they_lack() {
    let w = world().await;
    let iam = w
        .role(
            "WORKSPACE",
            "IAM",
            &["workspace.config.get", "workspace.users.get", "workspace.invites.get", "workspace.iam.update"],
        )
        .await;
    let deployer = w.role("WORKSPACE", "Deployer", &["workspace.config.get", "workspace.deployments.create"]).await;
    let reader = w.role("WORKSPACE", "Reader", &["workspace.config.get"]).await;
    data(&w.assign(&w.owner, "carol@example.com", &iam).await);

    // Carol runs workspace IAM through her custom role, but grants only what she holds.
    let before = w.app.access_snapshot().await;
    forbidden(&w.assign(&w.carol, "bob@example.com", &deployer).await);
    // WORKSPACE_VIEWER holds workspace.teams.get, which she lacks.
    forbidden(&w.app.add_to_workspace(&w.carol, &w.workspace, "bob@example.com", "WORKSPACE_VIEWER").await);
    assert_eq!(before, w.app.access_snapshot().await, "a refused grant changes nothing");
    data(&w.assign(&w.carol, "bob@example.com", &reader).await);
    // …and she may not raise bob to a role holding more than she holds.
    let raise = w
        .app
        .gql(UPDATE_USER, json!({"w": w.workspace, "email": "bob@example.com", "custom": deployer}), Some(&w.carol))
        .await;
    forbidden(&raise);
    let same = w
        .app
        .gql(UPDATE_USER, json!({"w": w.workspace, "email": "bob@example.com", "custom": iam}), Some(&w.carol))
        .await;
    assert_eq!(data(&same)["workspaceUpdateUserRole"], "WORKSPACE_CUSTOM");
    // Nor define roles: that is the owners' (organization.customRoles.update).
    forbidden(&w.create(&w.carol, &w.org, "WORKSPACE", "Mine", &["workspace.config.get"]).await);

    // A role's permissions are granted only by the role: the marker cannot be asked for by name, and a role
    // is named once.
    bad_input(&w.app.add_to_workspace(&w.owner, &w.workspace, "dave@example.com", "WORKSPACE_CUSTOM").await, "role");
    let both = w
        .app
        .gql("mutation($w: Uuid!, $c: Uuid!) { workspaceAddUser(workspaceUuid: $w, email: \"dave@example.com\", role: WORKSPACE_VIEWER, customRoleUuid: $c) { id } }", json!({"w": w.workspace, "c": reader}), Some(&w.owner))
        .await;
    bad_input(&both, "customRoleUuid");
}

#[tokio::test]
async fn deleting_a_role_in_use_is_a_conflict_and_an_unused_one_goes() {
    let w = world().await;
    let reader = w.role("WORKSPACE", "Reader", &["workspace.config.get"]).await;
    data(&w.assign(&w.owner, "alice@example.com", &reader).await);
    // In use by a binding.
    let refused = w.app.gql(DELETE, json!({"id": reader}), Some(&w.owner)).await;
    assert_eq!(error_code(&refused), "CONFLICT", "{refused}");
    assert!(error_message(&refused).contains("in use"), "{refused}");
    // In use by a pending invite (an address outside the organization is invited).
    let invited = w.role("WORKSPACE", "Invited", &["workspace.config.get"]).await;
    data(&w.assign(&w.owner, "newcomer@example.com", &invited).await);
    assert_eq!(w.app.count(&format!("SELECT count(*) AS n FROM invites WHERE custom_role_id = '{invited}'")).await, 1);
    assert_eq!(error_code(&w.app.gql(DELETE, json!({"id": invited}), Some(&w.owner)).await), "CONFLICT");
    // A member may not delete one.
    forbidden(&w.app.gql(DELETE, json!({"id": reader}), Some(&w.alice)).await);

    // Once nobody holds it, it goes, with its audit event.
    let back = w
        .app
        .gql(
            UPDATE_USER,
            json!({"w": w.workspace, "email": "alice@example.com", "role": "WORKSPACE_VIEWER"}),
            Some(&w.owner),
        )
        .await;
    assert_eq!(data(&back)["workspaceUpdateUserRole"], "WORKSPACE_VIEWER");
    data(&w.app.gql(DELETE, json!({"id": reader}), Some(&w.owner)).await);
    assert_eq!(w.app.count(&format!("SELECT count(*) AS n FROM custom_roles WHERE id = '{reader}'")).await, 0);
    assert_eq!(w.app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'customRole.delete'").await, 1);
    // Gone: it names no organization any more, so the answer does not say whether it existed (SPEC §7).
    assert_eq!(error_code(&w.app.gql(DELETE, json!({"id": reader}), Some(&w.owner)).await), "FORBIDDEN");
}

#[tokio::test]
async fn an_invite_with_a_custom_role_grants_it_on_sign_up() {
    let w = world().await;
    let reader = w.role("WORKSPACE", "Reader", &["workspace.config.get", "workspace.deployments.get"]).await;
    data(&w.assign(&w.owner, "newcomer@example.com", &reader).await);
    let token = w.app.invite_token_for("newcomer@example.com").await;
    let signed_up = w
        .app
        .gql(
            "mutation($t: String!) { createUser(email: \"newcomer@example.com\", password: \"correct horse battery\", inviteToken: $t) { token { value } } }",
            json!({"t": token}),
            None,
        )
        .await;
    let newcomer = data(&signed_up)["createUser"]["token"]["value"].as_str().unwrap().to_owned();
    let read = w
        .app
        .gql(
            "query($w: Uuid!) { workspaceDeployments(workspaceUuid: $w) { id } }",
            json!({"w": w.workspace}),
            Some(&newcomer),
        )
        .await;
    data(&read);
    forbidden(&w.app.gql(UPDATE_WORKSPACE, json!({"w": w.workspace}), Some(&newcomer)).await);
}

#[tokio::test]
async fn a_role_of_one_organization_cannot_be_held_in_another_nor_at_another_scope() {
    let w = world().await;
    // Root owns both organizations: Acme's role still cannot be held in the default organization's workspace.
    let acme_role = w.create(&w.root, &w.acme, "WORKSPACE", "Acme reader", &["workspace.config.get"]).await;
    let acme_role = data(&acme_role)["createCustomRole"]["id"].as_str().unwrap().to_owned();
    let before = w.app.access_snapshot().await;
    // Another organization's role is answered as an id that names nothing: BAD_USER_INPUT naming the field.
    for caller in [&w.root, &w.owner] {
        let assigned = w.assign(caller, "alice@example.com", &acme_role).await;
        assert_eq!(error_code(&assigned), "BAD_USER_INPUT", "{assigned}");
        assert_eq!(assigned["errors"][0]["extensions"]["field"], "customRoleUuid", "{assigned}");
        let nothing = w.assign(caller, "alice@example.com", &uuid::Uuid::new_v4().to_string()).await;
        assert_eq!(nothing["errors"][0]["message"], assigned["errors"][0]["message"], "{nothing}");
    }
    // Nor changed or deleted by the default organization's owners.
    forbidden(&w.app.gql(DELETE, json!({"id": acme_role}), Some(&w.owner)).await);
    assert_eq!(before, w.app.access_snapshot().await);

    // A deployment role is not a workspace role, and the other way round.
    let deployment_role = w.role("DEPLOYMENT", "Operator", &["deployment.config.get"]).await;
    bad_input(&w.assign(&w.owner, "alice@example.com", &deployment_role).await, "customRoleUuid");
    let workspace_role = w.role("WORKSPACE", "Reader", &["workspace.config.get"]).await;
    data(&w.assign(&w.owner, "alice@example.com", &workspace_role).await);
    let wrong = w
        .app
        .gql("mutation($d: Id!, $c: Uuid!) { deploymentAddUserRole(email: \"alice@example.com\", deploymentId: $d, customRoleUuid: $c) { id } }", json!({"d": w.deployment, "c": workspace_role}), Some(&w.owner))
        .await;
    bad_input(&wrong, "customRoleUuid");
}

#[tokio::test]
async fn deployment_roles_teams_and_api_keys_take_custom_roles_too() {
    let w = world().await;
    let operator = w.role("DEPLOYMENT", "Operator", &["deployment.config.get", "deployment.config.update"]).await;
    let reader = w.role("WORKSPACE", "Reader", &["workspace.config.get", "workspace.deployments.get"]).await;

    // A user: a deployment role needs a workspace role first.
    data(&w.assign(&w.owner, "alice@example.com", &reader).await);
    let added = w
        .app
        .gql("mutation($d: Id!, $c: Uuid!) { deploymentAddUserRole(email: \"alice@example.com\", deploymentId: $d, customRoleUuid: $c) { role customRole { name } } }", json!({"d": w.deployment, "c": operator}), Some(&w.owner))
        .await;
    assert_eq!(
        data(&added)["deploymentAddUserRole"],
        json!({"role": "DEPLOYMENT_CUSTOM", "customRole": {"name": "Operator"}})
    );
    let update =
        "mutation($d: Uuid!) { updateDeployment(deploymentUuid: $d, payload: {description: \"tuned\"}) { id } }";
    data(&w.app.gql(update, json!({"d": w.deployment}), Some(&w.alice)).await);
    let delete = "mutation($d: Uuid!) { deleteDeployment(deploymentUuid: $d) { id } }";
    forbidden(&w.app.gql(delete, json!({"d": w.deployment}), Some(&w.alice)).await);

    // A team: its members hold the role.
    let team = w
        .app
        .gql(
            "mutation($org: Uuid!) { createTeam(organizationUuid: $org, name: \"Readers\") { id } }",
            json!({"org": w.org}),
            Some(&w.owner),
        )
        .await;
    let team = data(&team)["createTeam"]["id"].as_str().unwrap().to_owned();
    let bob_id = w.app.text("SELECT user_id::text AS t FROM emails WHERE address = 'bob@example.com'").await;
    data(
        &w.app
            .gql(
                "mutation($t: Uuid!, $u: Uuid!) { teamAddUser(teamUuid: $t, userUuid: $u) { id } }",
                json!({"t": team, "u": bob_id}),
                Some(&w.owner),
            )
            .await,
    );
    forbidden(
        &w.app
            .gql(
                "query($w: Uuid!) { workspaceDeployments(workspaceUuid: $w) { id } }",
                json!({"w": w.workspace}),
                Some(&w.bob),
            )
            .await,
    );
    let add_team = "mutation($w: Uuid!, $t: Uuid!, $c: Uuid!) { workspaceAddTeam(workspaceUuid: $w, teamUuid: $t, customRoleUuid: $c) { id } }";
    data(&w.app.gql(add_team, json!({"w": w.workspace, "t": team, "c": reader}), Some(&w.owner)).await);
    data(
        &w.app
            .gql(
                "query($w: Uuid!) { workspaceDeployments(workspaceUuid: $w) { id } }",
                json!({"w": w.workspace}),
                Some(&w.bob),
            )
            .await,
    );
    forbidden(&w.app.gql(UPDATE_WORKSPACE, json!({"w": w.workspace}), Some(&w.bob)).await);
    assert_eq!(error_code(&w.app.gql(DELETE, json!({"id": reader}), Some(&w.owner)).await), "CONFLICT");

    // An API key: it can do what its role holds.
    let key = w
        .app
        .gql("mutation($w: Uuid!, $c: Uuid!) { createWorkspaceServiceAccount(label: \"ci\", workspaceUuid: $w, customRoleUuid: $c) { apiKey } }", json!({"w": w.workspace, "c": reader}), Some(&w.owner))
        .await;
    let key = data(&key)["createWorkspaceServiceAccount"]["apiKey"].as_str().unwrap().to_owned();
    data(
        &w.app
            .gql(
                "query($w: Uuid!) { workspaceDeployments(workspaceUuid: $w) { id } }",
                json!({"w": w.workspace}),
                Some(&key),
            )
            .await,
    );
    forbidden(&w.app.gql(CREATE_DEPLOYMENT, json!({"w": w.workspace, "label": "by-key"}), Some(&key)).await);
    // Alice (holding Reader, no IAM and no key permissions) cannot mint one.
    let minted = w
        .app
        .gql("mutation($w: Uuid!, $c: Uuid!) { createWorkspaceServiceAccount(label: \"mine\", workspaceUuid: $w, customRoleUuid: $c) { apiKey } }", json!({"w": w.workspace, "c": reader}), Some(&w.alice))
        .await;
    forbidden(&minted);
}

/// Statements the server ran while answering one request, and the answer.
async fn cost(app: &TestApp, query: &str, variables: Value, token: &str) -> (u64, Value) {
    use std::sync::atomic::Ordering;
    let before = app.state.statements.load(Ordering::SeqCst);
    let body = app.gql(query, variables, Some(token)).await;
    assert!(body.get("errors").is_none(), "{body}");
    (app.state.statements.load(Ordering::SeqCst) - before, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_roles_cost_no_statement_per_check_nor_per_binding() {
    let w = world().await;
    let first = w.role("WORKSPACE", "First", &["workspace.config.get", "workspace.users.get"]).await;
    let second = w.role("WORKSPACE", "Second", &["workspace.config.get", "workspace.users.get"]).await;
    data(&w.assign(&w.owner, "alice@example.com", &first).await);
    // A holder's authentication is still the one statement, its custom role read with its bindings.
    let (statements, _) = cost(&w.app, "{ self { id } }", json!({}), &w.alice).await;
    assert_eq!(statements, 1);
    let query = "query($w: Uuid!) { workspaceUsers(workspaceUuid: $w) { roleBindings { role customRole { name } } } }";
    let (few, _) = cost(&w.app, query, json!({"w": w.workspace}), &w.alice).await;
    for (email, role) in [("bob@example.com", &second), ("carol@example.com", &first), ("dave@example.com", &second)] {
        data(&w.assign(&w.owner, email, role).await);
    }
    let (many, body) = cost(&w.app, query, json!({"w": w.workspace}), &w.alice).await;
    let names: Vec<Value> = body["data"]["workspaceUsers"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|u| u["roleBindings"].as_array().unwrap().clone())
        .filter(|b| b["role"] == "WORKSPACE_CUSTOM")
        .map(|b| b["customRole"]["name"].clone())
        .collect();
    assert_eq!(names.len(), 4, "{body}");
    assert_eq!(few, many, "the custom roles of every binding are loaded together");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deletion_racing_a_grant_never_leaves_a_binding_to_a_deleted_role() {
    let w = world().await;
    for email in ["alice@example.com", "bob@example.com", "carol@example.com"] {
        data(&w.app.add_to_workspace(&w.owner, &w.workspace, email, "WORKSPACE_VIEWER").await);
    }
    for round in 0..6 {
        let role = w.role("WORKSPACE", &format!("Racing {round}"), &["workspace.config.get"]).await;
        let email = ["alice@example.com", "bob@example.com", "carol@example.com"][round % 3];
        let (assigned, deleted) = tokio::join!(
            w.app.gql(UPDATE_USER, json!({"w": w.workspace, "email": email, "custom": role}), Some(&w.owner)),
            w.app.gql(DELETE, json!({"id": role}), Some(&w.owner)),
        );
        let assigned_ok = assigned.get("errors").is_none();
        let deleted_ok = deleted.get("errors").is_none();
        assert!(assigned_ok != deleted_ok, "exactly one wins: {assigned} / {deleted}");
        if deleted_ok {
            // The role the grant named is gone: as an id that names nothing.
            assert_eq!(error_code(&assigned), "BAD_USER_INPUT", "{assigned}");
        } else {
            assert_eq!(error_code(&deleted), "CONFLICT", "{deleted}");
            // Give the workspace role back so the next round can race again.
            let back = json!({"w": w.workspace, "email": email, "role": "WORKSPACE_VIEWER"});
            data(&w.app.gql(UPDATE_USER, back, Some(&w.owner)).await);
        }
        assert_eq!(
            w.app.count("SELECT count(*) AS n FROM role_bindings b WHERE custom_role_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM custom_roles r WHERE r.id = b.custom_role_id)").await,
            0
        );
    }
}

#[tokio::test]
async fn a_deployment_file_keeps_a_custom_role_but_does_not_give_one() {
    let w = world().await;
    let export = "query($d: Uuid!) { deploymentFile(deploymentUuid: $d, format: JSON) }";
    let apply = "mutation($w: Uuid!, $file: String!) { applyDeploymentFile(workspaceUuid: $w, file: $file) { changes { field old new } } }";
    let operator = w.role("DEPLOYMENT", "Operator", &["deployment.config.get"]).await;
    data(&w.app.add_to_workspace(&w.owner, &w.workspace, "alice@example.com", "WORKSPACE_VIEWER").await);
    data(&w.app.add_to_workspace(&w.owner, &w.workspace, "bob@example.com", "WORKSPACE_VIEWER").await);
    let add = "mutation($d: Id!, $c: Uuid!) { deploymentAddUserRole(email: \"alice@example.com\", deploymentId: $d, customRoleUuid: $c) { id } }";
    data(&w.app.gql(add, json!({"d": w.deployment, "c": operator}), Some(&w.owner)).await);
    let file = w.app.gql(export, json!({"d": w.deployment}), Some(&w.owner)).await;
    let file = data(&file)["deploymentFile"].as_str().unwrap().to_owned();
    assert!(file.contains("DEPLOYMENT_CUSTOM"), "{file}");
    // The round trip changes nothing.
    let applied = w.app.gql(apply, json!({"w": w.workspace, "file": file}), Some(&w.owner)).await;
    assert_eq!(data(&applied)["applyDeploymentFile"]["changes"], json!([]), "{applied}");
    // A file cannot give the marker to someone else.
    let given = file.replace("alice@example.com", "bob@example.com");
    let refused = w.app.gql(apply, json!({"w": w.workspace, "file": given}), Some(&w.owner)).await;
    assert_eq!(error_code(&refused), "BAD_USER_INPUT", "{refused}");
    assert!(error_message(&refused).contains("custom role"), "{refused}");
}

/// Granting a built-in workspace role also gives its deployment role on every deployment of the workspace,
/// present and future (SPEC §2 step 2), so the grant rule asks the grantor to hold that too. A custom
/// workspace role implies nothing on deployments: a holder of every permission of WORKSPACE_VIEWER (or of
/// WORKSPACE_ADMIN) plus workspace IAM may not hand out WORKSPACE_VIEWER (or raise itself to
/// WORKSPACE_ADMIN) and so reach the deployments it cannot read. The built-in admin still may.
#[tokio::test]
async fn a_built_in_workspace_role_is_granted_only_by_who_holds_what_it_gives_on_the_deployments() {
    let w = world().await;
    let templates =
        w.app.gql("{ roleTemplates(scope: WORKSPACE) { role permissions } }", json!({}), Some(&w.owner)).await;
    let permissions_of = |role: &str| -> Vec<String> {
        data(&templates)["roleTemplates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|template| template["role"] == role)
            .unwrap_or_else(|| panic!("{role} in {templates}"))["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|permission| permission.as_str().unwrap().to_owned())
            .collect()
    };
    let mut viewer_and_iam = permissions_of("WORKSPACE_VIEWER");
    viewer_and_iam.push("workspace.iam.update".to_owned());
    let admin = permissions_of("WORKSPACE_ADMIN");
    assert!(admin.contains(&"workspace.iam.update".to_owned()), "{admin:?}");
    let viewer_and_iam = w
        .app
        .gql(
            CREATE,
            json!({"org": w.org, "scope": "WORKSPACE", "name": "Viewer and IAM", "permissions": viewer_and_iam}),
            Some(&w.owner),
        )
        .await;
    let viewer_and_iam = data(&viewer_and_iam)["createCustomRole"]["id"].as_str().unwrap().to_owned();
    let full = w
        .app
        .gql(CREATE, json!({"org": w.org, "scope": "WORKSPACE", "name": "Full", "permissions": admin}), Some(&w.owner))
        .await;
    let full = data(&full)["createCustomRole"]["id"].as_str().unwrap().to_owned();
    data(&w.assign(&w.owner, "carol@example.com", &viewer_and_iam).await);
    data(&w.assign(&w.owner, "bob@example.com", &full).await);

    let reads_deployment = |token: String| {
        let app = &w.app;
        let deployment = w.deployment.clone();
        async move {
            let body = app
                .gql(
                    "query($d: String!) { deployment(where: {id: $d}) { id } }",
                    json!({"d": deployment}),
                    Some(&token),
                )
                .await;
            body["data"]["deployment"]["id"] == deployment.as_str()
        }
    };
    assert!(!reads_deployment(w.carol.clone()).await, "a custom workspace role gives nothing on deployments");

    let before = w.app.access_snapshot().await;
    forbidden(&w.app.add_to_workspace(&w.carol, &w.workspace, "dave@example.com", "WORKSPACE_VIEWER").await);
    forbidden(&w.app.add_to_workspace(&w.bob, &w.workspace, "dave@example.com", "WORKSPACE_VIEWER").await);
    let raise = w
        .app
        .gql(
            UPDATE_USER,
            json!({"w": w.workspace, "email": "bob@example.com", "role": "WORKSPACE_ADMIN"}),
            Some(&w.bob),
        )
        .await;
    forbidden(&raise);
    assert_eq!(before, w.app.access_snapshot().await, "the refused grants changed nothing");
    let can_delete = w
        .app
        .gql(
            "query($d: Uuid!) { can(permission: \"deployment.config.delete\", scopeId: $d) }",
            json!({"d": w.deployment}),
            Some(&w.bob),
        )
        .await;
    assert_eq!(data(&can_delete)["can"], false);

    // The built-in workspace admin holds DEPLOYMENT_ADMIN on every deployment of the workspace: it may.
    data(&w.app.add_to_workspace(&w.owner, &w.workspace, "dave@example.com", "WORKSPACE_VIEWER").await);
    let dave = w.app.sign_in("dave@example.com", PASSWORD).await["data"]["createToken"]["token"]["value"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(reads_deployment(dave).await, "WORKSPACE_VIEWER reads the workspace's deployments");
}

/// A deployment role held only on deleted deployments is not "in use": nobody can use those bindings or
/// give their holders another role, so deleting the role succeeds, takes them along and says so in its
/// audit event. Held on a live deployment, it is still CONFLICT.
#[tokio::test]
async fn a_role_held_only_on_deleted_deployments_can_be_deleted() {
    let w = world().await;
    let role = w.role("DEPLOYMENT", "Reader", &["deployment.config.get"]).await;
    data(&w.app.add_to_workspace(&w.owner, &w.workspace, "alice@example.com", "WORKSPACE_VIEWER").await);
    let gone = w.app.create_deployment(&w.owner, &w.workspace, "gone").await["id"].as_str().unwrap().to_owned();
    let give = "mutation($d: Id!, $c: Uuid!) { deploymentAddUserRole(email: \"alice@example.com\", deploymentId: $d, customRoleUuid: $c) { id } }";
    data(&w.app.gql(give, json!({"d": gone, "c": role}), Some(&w.owner)).await);
    data(&w.app.gql(give, json!({"d": w.deployment, "c": role}), Some(&w.owner)).await);
    let delete_deployment = "mutation($d: Uuid!) { deleteDeployment(deploymentUuid: $d) { id } }";
    data(&w.app.gql(delete_deployment, json!({"d": gone}), Some(&w.owner)).await);
    // Still held on the live deployment D.
    assert_eq!(error_code(&w.app.gql(DELETE, json!({"id": role}), Some(&w.owner)).await), "CONFLICT");
    data(&w.app.gql(delete_deployment, json!({"d": w.deployment}), Some(&w.owner)).await);
    let deleted = w.app.gql(DELETE, json!({"id": role}), Some(&w.owner)).await;
    assert_eq!(data(&deleted)["deleteCustomRole"]["id"], role.as_str());
    let left = w.app.count(&format!("SELECT count(*) AS n FROM role_bindings WHERE custom_role_id = '{role}'")).await;
    assert_eq!(left, 0);
    let noted = w
        .app
        .text(&format!(
            "SELECT (before ->> 'bindingsOnDeletedDeployments') AS t FROM audit_events WHERE action = 'customRole.delete' AND target_id = '{role}'"
        ))
        .await;
    assert_eq!(noted, "2");
}

// ---- Audit events name the custom role ------------------------------------------------------------

impl World {
    /// The newest audit event matching `filter` whose action starts with `action`, as owner2 reads it
    /// over GraphQL.
    async fn event(&self, mut filter: Value, action: &str) -> Value {
        filter["action"] = json!(action);
        let body = self
            .app
            .gql(
                "query($f: AuditEventFilter!) { auditEvents(filter: $f, first: 1) { edges { node { action before after } } } }",
                json!({"f": filter}),
                Some(&self.owner),
            )
            .await;
        let node = data(&body)["auditEvents"]["edges"][0]["node"].clone();
        assert_eq!(node["action"], action, "no {action} event: {body}");
        node
    }
}

/// `snapshot` names custom role `id` called `name` (and the marker role).
fn names_role(snapshot: &Value, marker: &str, id: &str, name: &str) {
    assert_eq!(snapshot["role"], marker, "{snapshot}");
    assert_eq!(snapshot["customRoleId"], id, "{snapshot}");
    assert_eq!(snapshot["customRoleName"], name, "{snapshot}");
}

/// Every audit event of a role change records which custom role was granted or taken away, by id and by
/// its name at the change, not only the WORKSPACE_CUSTOM / DEPLOYMENT_CUSTOM marker: users' workspace and
/// deployment roles, teams' roles, API keys and invites (created, deleted, accepted, applied at sign-up).
#[tokio::test]
async fn every_role_change_names_the_custom_role_in_its_audit_event() {
    let w = world().await;
    let reader = w.role("WORKSPACE", "Reader", &["workspace.config.get", "workspace.deployments.get"]).await;
    let auditor = w.role("WORKSPACE", "Auditor", &["workspace.config.get", "workspace.users.get"]).await;
    let operator = w.role("DEPLOYMENT", "Operator", &["deployment.config.get", "deployment.config.update"]).await;
    let watcher = w.role("DEPLOYMENT", "Watcher", &["deployment.config.get"]).await;
    let in_workspace = json!({"workspaceUuid": w.workspace});
    let in_deployment = json!({"deploymentUuid": w.deployment});

    // A user's workspace role: added, changed, removed.
    data(&w.assign(&w.owner, "alice@example.com", &reader).await);
    names_role(
        &w.event(in_workspace.clone(), "workspace.user.add").await["after"],
        "WORKSPACE_CUSTOM",
        &reader,
        "Reader",
    );
    let changed = json!({"w": w.workspace, "email": "alice@example.com", "custom": auditor});
    data(&w.app.gql(UPDATE_USER, changed, Some(&w.owner)).await);
    let event = w.event(in_workspace.clone(), "workspace.user.updateRole").await;
    names_role(&event["before"], "WORKSPACE_CUSTOM", &reader, "Reader");
    names_role(&event["after"], "WORKSPACE_CUSTOM", &auditor, "Auditor");

    // A user's deployment role: added, changed, removed.
    let add = "mutation($d: Id!, $c: Uuid!) { deploymentAddUserRole(email: \"alice@example.com\", deploymentId: $d, customRoleUuid: $c) { id } }";
    data(&w.app.gql(add, json!({"d": w.deployment, "c": operator}), Some(&w.owner)).await);
    let event = w.event(in_deployment.clone(), "deployment.user.role").await;
    assert!(event["before"].is_null(), "{event}");
    names_role(&event["after"], "DEPLOYMENT_CUSTOM", &operator, "Operator");
    let update = "mutation($d: Id!, $c: Uuid!) { deploymentUpdateUserRole(email: \"alice@example.com\", deploymentId: $d, customRoleUuid: $c) { id } }";
    data(&w.app.gql(update, json!({"d": w.deployment, "c": watcher}), Some(&w.owner)).await);
    let event = w.event(in_deployment.clone(), "deployment.user.role").await;
    names_role(&event["before"], "DEPLOYMENT_CUSTOM", &operator, "Operator");
    names_role(&event["after"], "DEPLOYMENT_CUSTOM", &watcher, "Watcher");
    let remove =
        "mutation($d: Id!) { deploymentRemoveUserRole(email: \"alice@example.com\", deploymentId: $d) { id } }";
    data(&w.app.gql(remove, json!({"d": w.deployment}), Some(&w.owner)).await);
    let event = w.event(in_deployment.clone(), "deployment.user.role").await;
    names_role(&event["before"], "DEPLOYMENT_CUSTOM", &watcher, "Watcher");
    assert!(event["after"].is_null(), "{event}");
    // A role renamed later: the record keeps the name it had at the change.
    let rename = "mutation($id: Uuid!) { updateCustomRole(customRoleUuid: $id, name: \"Former auditor\") { id } }";
    data(&w.app.gql(rename, json!({"id": auditor}), Some(&w.owner)).await);
    let alice_id = w.app.text("SELECT user_id::text AS t FROM emails WHERE address = 'alice@example.com'").await;
    let remove_user = "mutation($w: Uuid!, $u: Uuid!) { workspaceRemoveUser(workspaceUuid: $w, userUuid: $u) { id } }";
    data(&w.app.gql(remove_user, json!({"w": w.workspace, "u": alice_id}), Some(&w.owner)).await);
    names_role(
        &w.event(in_workspace.clone(), "workspace.user.remove").await["before"],
        "WORKSPACE_CUSTOM",
        &auditor,
        "Former auditor",
    );
    let earlier = w.event(in_workspace.clone(), "workspace.user.updateRole").await;
    assert_eq!(earlier["after"]["customRoleName"], "Auditor", "{earlier}");

    // A team's roles on the workspace and on a deployment.
    let team = w
        .app
        .gql(
            "mutation($org: Uuid!) { createTeam(organizationUuid: $org, name: \"Readers\") { id } }",
            json!({"org": w.org}),
            Some(&w.owner),
        )
        .await;
    let team = data(&team)["createTeam"]["id"].as_str().unwrap().to_owned();
    let add_team = "mutation($w: Uuid!, $t: Uuid!, $c: Uuid!) { workspaceAddTeam(workspaceUuid: $w, teamUuid: $t, customRoleUuid: $c) { id } }";
    data(&w.app.gql(add_team, json!({"w": w.workspace, "t": team, "c": reader}), Some(&w.owner)).await);
    names_role(&w.event(in_workspace.clone(), "team.role").await["after"], "WORKSPACE_CUSTOM", &reader, "Reader");
    let update_team = "mutation($w: Uuid!, $t: Uuid!, $c: Uuid!) { workspaceUpdateTeamRole(workspaceUuid: $w, teamUuid: $t, customRoleUuid: $c) }";
    data(&w.app.gql(update_team, json!({"w": w.workspace, "t": team, "c": auditor}), Some(&w.owner)).await);
    let event = w.event(in_workspace.clone(), "team.role").await;
    names_role(&event["before"], "WORKSPACE_CUSTOM", &reader, "Reader");
    names_role(&event["after"], "WORKSPACE_CUSTOM", &auditor, "Former auditor");
    let add_team_role = "mutation($d: Uuid!, $t: Uuid!, $c: Uuid!) { deploymentAddTeamRole(teamUuid: $t, deploymentUuid: $d, customRoleUuid: $c) { id } }";
    data(&w.app.gql(add_team_role, json!({"d": w.deployment, "t": team, "c": operator}), Some(&w.owner)).await);
    names_role(&w.event(in_deployment.clone(), "team.role").await["after"], "DEPLOYMENT_CUSTOM", &operator, "Operator");
    let remove_team_role =
        "mutation($d: Uuid!, $t: Uuid!) { deploymentRemoveTeamRole(deploymentUuid: $d, teamUuid: $t) { id } }";
    data(&w.app.gql(remove_team_role, json!({"d": w.deployment, "t": team}), Some(&w.owner)).await);
    names_role(
        &w.event(in_deployment.clone(), "team.role").await["before"],
        "DEPLOYMENT_CUSTOM",
        &operator,
        "Operator",
    );

    // An API key: created, changed, rotated, deleted.
    let create_key = "mutation($w: Uuid!, $c: Uuid!) { createWorkspaceServiceAccount(label: \"ci\", workspaceUuid: $w, customRoleUuid: $c) { id } }";
    let key = w.app.gql(create_key, json!({"w": w.workspace, "c": reader}), Some(&w.owner)).await;
    let key = data(&key)["createWorkspaceServiceAccount"]["id"].as_str().unwrap().to_owned();
    names_role(
        &w.event(in_workspace.clone(), "serviceAccount.create").await["after"],
        "WORKSPACE_CUSTOM",
        &reader,
        "Reader",
    );
    let update_key = "mutation($w: Uuid!, $k: Uuid!, $p: JSON) { updateWorkspaceServiceAccount(serviceAccountUuid: $k, workspaceUuid: $w, payload: $p) { id } }";
    let payload = json!({"customRoleUuid": auditor});
    data(&w.app.gql(update_key, json!({"w": w.workspace, "k": key, "p": payload}), Some(&w.owner)).await);
    let event = w.event(in_workspace.clone(), "serviceAccount.update").await;
    names_role(&event["before"], "WORKSPACE_CUSTOM", &reader, "Reader");
    names_role(&event["after"], "WORKSPACE_CUSTOM", &auditor, "Former auditor");
    let payload = json!({"label": "ci-renamed"});
    data(&w.app.gql(update_key, json!({"w": w.workspace, "k": key, "p": payload}), Some(&w.owner)).await);
    let event = w.event(in_workspace.clone(), "serviceAccount.update").await;
    names_role(&event["after"], "WORKSPACE_CUSTOM", &auditor, "Former auditor");
    let rotate = "mutation($k: Uuid!) { rotateServiceAccountKey(serviceAccountUuid: $k) { id } }";
    data(&w.app.gql(rotate, json!({"k": key}), Some(&w.owner)).await);
    names_role(
        &w.event(in_workspace.clone(), "serviceAccount.rotate").await["after"],
        "WORKSPACE_CUSTOM",
        &auditor,
        "Former auditor",
    );
    let delete_key = "mutation($w: Uuid!, $k: Uuid!) { deleteWorkspaceServiceAccount(serviceAccountUuid: $k, workspaceUuid: $w) { id } }";
    data(&w.app.gql(delete_key, json!({"w": w.workspace, "k": key}), Some(&w.owner)).await);
    names_role(
        &w.event(in_workspace.clone(), "serviceAccount.delete").await["before"],
        "WORKSPACE_CUSTOM",
        &auditor,
        "Former auditor",
    );

    // Invites: created and deleted; created and accepted by an existing account; applied at sign-up.
    data(&w.assign(&w.owner, "first@example.com", &reader).await);
    names_role(&w.event(in_workspace.clone(), "invite.create").await["after"], "WORKSPACE_CUSTOM", &reader, "Reader");
    let invite = w.app.text("SELECT id::text AS t FROM invites WHERE email = 'first@example.com'").await;
    let delete_invite = "mutation($i: Uuid!) { deleteInviteToken(inviteUuid: $i) { id } }";
    data(&w.app.gql(delete_invite, json!({"i": invite}), Some(&w.owner)).await);
    names_role(&w.event(in_workspace.clone(), "invite.delete").await["before"], "WORKSPACE_CUSTOM", &reader, "Reader");

    data(&w.assign(&w.owner, "second@example.com", &reader).await);
    let token = w.app.invite_token_for("second@example.com").await;
    // Signed up without the token (public sign-ups): the invite waits for acceptInvite.
    let (second, _) = w.app.sign_up("second@example.com", PASSWORD).await;
    let accept = "mutation($t: String!) { acceptInvite(token: $t) { id } }";
    data(&w.app.gql(accept, json!({"t": token}), Some(&second)).await);
    names_role(&w.event(in_workspace.clone(), "invite.accept").await["before"], "WORKSPACE_CUSTOM", &reader, "Reader");

    data(&w.assign(&w.owner, "third@example.com", &auditor).await);
    let token = w.app.invite_token_for("third@example.com").await;
    let signed_up = w
        .app
        .gql(
            "mutation($t: String!) { createUser(email: \"third@example.com\", password: \"correct horse battery\", inviteToken: $t) { token { value } } }",
            json!({"t": token}),
            None,
        )
        .await;
    data(&signed_up);
    let event = w.event(json!({"organizationUuid": w.org}), "user.create").await;
    let applied = &event["after"]["invitesApplied"];
    assert_eq!(applied.as_array().map(Vec::len), Some(1), "{event}");
    names_role(&applied[0], "WORKSPACE_CUSTOM", &auditor, "Former auditor");

    // A deployment file replacing a custom role: its DEPLOYMENT_CUSTOM is named in the record.
    data(&w.app.add_to_workspace(&w.owner, &w.workspace, "bob@example.com", "WORKSPACE_VIEWER").await);
    let give = "mutation($d: Id!, $c: Uuid!) { deploymentAddUserRole(email: \"bob@example.com\", deploymentId: $d, customRoleUuid: $c) { id } }";
    data(&w.app.gql(give, json!({"d": w.deployment, "c": operator}), Some(&w.owner)).await);
    let export = "query($d: Uuid!) { deploymentFile(deploymentUuid: $d, format: JSON) }";
    let file = w.app.gql(export, json!({"d": w.deployment}), Some(&w.owner)).await;
    let file = data(&file)["deploymentFile"].as_str().unwrap().to_owned();
    assert_eq!(file.matches("DEPLOYMENT_CUSTOM").count(), 1, "{file}");
    let file = file.replace("DEPLOYMENT_CUSTOM", "DEPLOYMENT_VIEWER");
    let apply = "mutation($w: Uuid!, $file: String!) { applyDeploymentFile(workspaceUuid: $w, file: $file) { changes { field old new } } }";
    data(&w.app.gql(apply, json!({"w": w.workspace, "file": file}), Some(&w.owner)).await);
    let event = w.event(in_deployment.clone(), "deployment.file.applied").await;
    names_role(
        &event["after"]["customRolesBefore"]["roles[user:bob@example.com]"],
        "DEPLOYMENT_CUSTOM",
        &operator,
        "Operator",
    );
}

// ---- Joining or leaving a team reads its custom roles together ------------------------------------

/// Adding someone to a team (or removing them) checks the grant rule for every role the team holds; the
/// team's custom roles are read in one statement and the objects' ancestries in one more, so a team with
/// five custom-role bindings costs what a team with one costs. The grantor, owner3, is an owner who
/// administers none of the workspaces directly (the decisions need each object's organization).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joining_a_team_costs_the_same_however_many_custom_roles_it_holds() {
    let w = world().await;
    let owner3 = w.app.sign_in("owner3@example.com", PASSWORD).await["data"]["createToken"]["token"]["value"]
        .as_str()
        .unwrap()
        .to_owned();
    let reader = w.role("WORKSPACE", "Reader", &["workspace.config.get", "workspace.deployments.get"]).await;
    let auditor = w.role("WORKSPACE", "Auditor", &["workspace.config.get", "workspace.users.get"]).await;
    let operator = w.role("DEPLOYMENT", "Operator", &["deployment.config.get", "deployment.config.update"]).await;
    let second = w.app.create_workspace(&w.owner, "W2").await;
    let third = w.app.create_workspace(&w.owner, "W3").await;
    let second_deployment = w.app.create_deployment(&w.owner, &second, "D2").await["id"].as_str().unwrap().to_owned();
    let create_team = "mutation($org: Uuid!, $n: String!) { createTeam(organizationUuid: $org, name: $n) { id } }";
    let add_team = "mutation($w: Uuid!, $t: Uuid!, $c: Uuid!) { workspaceAddTeam(workspaceUuid: $w, teamUuid: $t, customRoleUuid: $c) { id } }";
    let add_team_role = "mutation($d: Uuid!, $t: Uuid!, $c: Uuid!) { deploymentAddTeamRole(teamUuid: $t, deploymentUuid: $d, customRoleUuid: $c) { id } }";
    let one = w.app.gql(create_team, json!({"org": w.org, "n": "One"}), Some(&w.owner)).await;
    let one = data(&one)["createTeam"]["id"].as_str().unwrap().to_owned();
    data(&w.app.gql(add_team, json!({"w": w.workspace, "t": one, "c": reader}), Some(&w.owner)).await);
    let five = w.app.gql(create_team, json!({"org": w.org, "n": "Five"}), Some(&w.owner)).await;
    let five = data(&five)["createTeam"]["id"].as_str().unwrap().to_owned();
    for (workspace, role) in [(&w.workspace, &reader), (&second, &auditor), (&third, &reader)] {
        data(&w.app.gql(add_team, json!({"w": workspace, "t": five, "c": role}), Some(&w.owner)).await);
    }
    for deployment in [&w.deployment, &second_deployment] {
        data(&w.app.gql(add_team_role, json!({"d": deployment, "t": five, "c": operator}), Some(&w.owner)).await);
    }
    let held = |team: &str| {
        format!("SELECT count(*) AS n FROM role_bindings WHERE team_id = '{team}' AND custom_role_id IS NOT NULL")
    };
    assert_eq!(w.app.count(&held(&one)).await, 1);
    assert_eq!(w.app.count(&held(&five)).await, 5);

    let alice_id = w.app.text("SELECT user_id::text AS t FROM emails WHERE address = 'alice@example.com'").await;
    let bob_id = w.app.text("SELECT user_id::text AS t FROM emails WHERE address = 'bob@example.com'").await;
    let join = "mutation($t: Uuid!, $u: Uuid!) { teamAddUser(teamUuid: $t, userUuid: $u) { id } }";
    let leave = "mutation($t: Uuid!, $u: Uuid!) { teamRemoveUser(teamUuid: $t, userUuid: $u) { id } }";
    let (join_one, _) = cost(&w.app, join, json!({"t": one, "u": alice_id}), &owner3).await;
    let (join_five, _) = cost(&w.app, join, json!({"t": five, "u": bob_id}), &owner3).await;
    assert_eq!(join_one, join_five, "teamAddUser: one custom role vs five");
    let (leave_one, _) = cost(&w.app, leave, json!({"t": one, "u": alice_id}), &owner3).await;
    let (leave_five, _) = cost(&w.app, leave, json!({"t": five, "u": bob_id}), &owner3).await;
    assert_eq!(leave_one, leave_five, "teamRemoveUser: one custom role vs five");
    // The member did get the team's roles.
    data(&w.app.gql(join, json!({"t": five, "u": bob_id}), Some(&owner3)).await);
    let reads = w
        .app
        .gql("query($w: Uuid!) { workspaceDeployments(workspaceUuid: $w) { id } }", json!({"w": third}), Some(&w.bob))
        .await;
    data(&reads);
}

/// SPEC §2: joining a team grants every role it holds, so whoever adds someone must hold every permission
/// of each of the team's custom roles on its object. An operator lets organization members manage teams
/// (the roles file), so the grantor can lack what a team's roles hold; each refusal changes nothing.
#[tokio::test]
async fn adding_a_team_member_needs_every_permission_of_the_teams_custom_roles() {
    let roles_file = std::env::temp_dir().join(format!("capcom-roles-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&roles_file, r#"{"ORGANIZATION_MEMBER": {"add": ["organization.teams.update"]}}"#).unwrap();
    let path = roles_file.clone();
    let app = TestApp::spawn_with(move |config| {
        config.public_signups = true;
        config.roles_file = Some(path);
    })
    .await;
    app.with_owners().await;
    let owner = app.sign_in("owner2@example.com", PASSWORD).await["data"]["createToken"]["token"]["value"]
        .as_str()
        .unwrap()
        .to_owned();
    let (carol, _) = app.sign_up("carol@example.com", PASSWORD).await;
    let (_, bob_id) = app.sign_up("bob@example.com", PASSWORD).await;
    let orgs = app.gql("{ organizations { id } }", json!({}), Some(&owner)).await;
    let org = data(&orgs)["organizations"][0]["id"].as_str().unwrap().to_owned();
    let workspace = app.create_workspace(&owner, "W").await;
    let deployment = app.create_deployment(&owner, &workspace, "D").await["id"].as_str().unwrap().to_owned();
    let role = |scope: &'static str, name: &'static str, permissions: &'static [&'static str]| {
        let app = &app;
        let owner = owner.clone();
        let org = org.clone();
        async move {
            let body = app
                .gql(
                    CREATE,
                    json!({"org": org, "scope": scope, "name": name, "permissions": permissions}),
                    Some(&owner),
                )
                .await;
            data(&body)["createCustomRole"]["id"].as_str().unwrap().to_owned()
        }
    };
    let deployer = role("WORKSPACE", "Deployer", &["workspace.config.get", "workspace.deployments.create"]).await;
    let reader = role("WORKSPACE", "Reader", &["workspace.config.get"]).await;
    let operator = role("DEPLOYMENT", "Operator", &["deployment.config.get", "deployment.config.update"]).await;
    let team = app
        .gql(
            "mutation($org: Uuid!) { createTeam(organizationUuid: $org, name: \"Builders\") { id } }",
            json!({"org": org}),
            Some(&owner),
        )
        .await;
    let team = data(&team)["createTeam"]["id"].as_str().unwrap().to_owned();
    let add_team = "mutation($w: Uuid!, $t: Uuid!, $c: Uuid!) { workspaceAddTeam(workspaceUuid: $w, teamUuid: $t, customRoleUuid: $c) { id } }";
    data(&app.gql(add_team, json!({"w": workspace, "t": team, "c": deployer}), Some(&owner)).await);
    let add_team_role = "mutation($d: Uuid!, $t: Uuid!, $c: Uuid!) { deploymentAddTeamRole(teamUuid: $t, deploymentUuid: $d, customRoleUuid: $c) { id } }";
    data(&app.gql(add_team_role, json!({"d": deployment, "t": team, "c": operator}), Some(&owner)).await);

    let join = "mutation($t: Uuid!, $u: Uuid!) { teamAddUser(teamUuid: $t, userUuid: $u) { id } }";
    let members = format!("SELECT count(*) AS n FROM team_members WHERE team_id = '{team}'");
    let refused = async |why: &str| {
        let before = app.access_snapshot().await;
        let body = app.gql(join, json!({"t": team, "u": bob_id}), Some(&carol)).await;
        assert_eq!(error_code(&body), "FORBIDDEN", "{why}: {body}");
        assert_eq!(app.count(&members).await, 0, "{why}: nobody joined");
        assert_eq!(before, app.access_snapshot().await, "{why}: the refusal changed nothing");
    };
    // Carol manages teams (the operator's matrix) but holds nothing in the workspace.
    refused("no workspace role").await;
    // A role lacking one permission of Deployer (workspace.deployments.create).
    let add_user = "mutation($w: Uuid!, $c: Uuid!) { workspaceAddUser(workspaceUuid: $w, email: \"carol@example.com\", customRoleUuid: $c) { id } }";
    data(&app.gql(add_user, json!({"w": workspace, "c": reader}), Some(&owner)).await);
    refused("Reader lacks workspace.deployments.create").await;
    // Every permission of Deployer, none of Operator's on the deployment.
    let update_user = "mutation($w: Uuid!, $c: Uuid!) { workspaceUpdateUserRole(workspaceUuid: $w, email: \"carol@example.com\", customRoleUuid: $c) }";
    data(&app.gql(update_user, json!({"w": workspace, "c": deployer}), Some(&owner)).await);
    refused("nothing on the deployment").await;
    // Deployment viewer: deployment.config.get but not deployment.config.update.
    let add_deployment_role = "mutation($d: Id!, $r: Role!) { deploymentAddUserRole(email: \"carol@example.com\", deploymentId: $d, role: $r) { id } }";
    data(&app.gql(add_deployment_role, json!({"d": deployment, "r": "DEPLOYMENT_VIEWER"}), Some(&owner)).await);
    refused("DEPLOYMENT_VIEWER lacks deployment.config.update").await;
    // Every permission of both roles: allowed.
    let update_deployment_role = "mutation($d: Id!, $c: Uuid!) { deploymentUpdateUserRole(email: \"carol@example.com\", deploymentId: $d, customRoleUuid: $c) { id } }";
    data(&app.gql(update_deployment_role, json!({"d": deployment, "c": operator}), Some(&owner)).await);
    data(&app.gql(join, json!({"t": team, "u": bob_id}), Some(&carol)).await);
    assert_eq!(app.count(&members).await, 1);
    std::fs::remove_file(roles_file).ok();
}

// ---- An API key's update payload names its fields as sent -------------------------------------------

/// Errors on the `payload` of an API-key update name the field by its path in the request
/// (`payload.customRoleUuid`, `payload.role`, `payload.category`), whatever rule refused it; a refused
/// update changes nothing.
#[tokio::test]
async fn an_api_key_update_names_the_payload_field_at_fault() {
    let w = world().await;
    let reader = w.role("WORKSPACE", "Reader", &["workspace.config.get"]).await;
    let operator = w.role("DEPLOYMENT", "Operator", &["deployment.config.get"]).await;
    let create = "mutation($w: Uuid!, $c: Uuid!) { createWorkspaceServiceAccount(label: \"ci\", workspaceUuid: $w, customRoleUuid: $c) { id } }";
    let key = w.app.gql(create, json!({"w": w.workspace, "c": reader}), Some(&w.owner)).await;
    let key = data(&key)["createWorkspaceServiceAccount"]["id"].as_str().unwrap().to_owned();
    let update = "mutation($w: Uuid!, $k: Uuid!, $p: JSON) { updateWorkspaceServiceAccount(serviceAccountUuid: $k, workspaceUuid: $w, payload: $p) { id } }";
    let long = "x".repeat(300);
    let before = w.app.access_snapshot().await;
    for (payload, field) in [
        // A deployment role for a workspace key.
        (json!({"customRoleUuid": operator}), "payload.customRoleUuid"),
        (json!({"role": "WORKSPACE_VIEWER", "customRoleUuid": reader}), "payload.customRoleUuid"),
        (json!({"customRoleUuid": "not a uuid"}), "payload.customRoleUuid"),
        (json!({"role": "WORKSPACE_CUSTOM"}), "payload.role"),
        (json!({"role": "DEPLOYMENT_VIEWER"}), "payload.role"),
        (json!({"role": "NOBODY"}), "payload.role"),
        (json!({"category": long}), "payload.category"),
        (json!({"label": long}), "payload.label"),
        (json!({"active": "yes"}), "payload.active"),
        (json!({"owner": "me"}), "payload.owner"),
    ] {
        let body = w.app.gql(update, json!({"w": w.workspace, "k": key, "p": payload}), Some(&w.owner)).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{payload}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{payload}: {body}");
    }
    assert_eq!(before, w.app.access_snapshot().await, "the refused updates changed nothing");

    // The same on a deployment key.
    let create = "mutation($d: Uuid!, $c: Uuid!) { createDeploymentServiceAccount(label: \"ci\", deploymentUuid: $d, customRoleUuid: $c) { id } }";
    let key = w.app.gql(create, json!({"d": w.deployment, "c": operator}), Some(&w.owner)).await;
    let key = data(&key)["createDeploymentServiceAccount"]["id"].as_str().unwrap().to_owned();
    let update = "mutation($d: Uuid!, $k: Uuid!, $p: JSON) { updateDeploymentServiceAccount(serviceAccountUuid: $k, deploymentUuid: $d, payload: $p) { id } }";
    for (payload, field) in [
        (json!({"customRoleUuid": reader}), "payload.customRoleUuid"),
        (json!({"role": "WORKSPACE_VIEWER"}), "payload.role"),
    ] {
        let body = w.app.gql(update, json!({"d": w.deployment, "k": key, "p": payload}), Some(&w.owner)).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{payload}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{payload}: {body}");
    }
    // A valid payload still works.
    let body = w
        .app
        .gql(update, json!({"d": w.deployment, "k": key, "p": {"role": "DEPLOYMENT_VIEWER"}}), Some(&w.owner))
        .await;
    data(&body);
}

// ---- A deployment file may not take away its applier's own access -----------------------------------

/// docs/deployment-file.md: a file's `roles` list is exact, so a list without its applier takes away the
/// role they hold on the deployment. Alice holds a custom workspace role that may create deployments but
/// reads none of them (a custom workspace role implies nothing on deployments): she reads what she
/// creates only through the DEPLOYMENT_ADMIN its creator gets. A file that lists nobody, created or
/// applied to her deployment, would leave her unable to read what she applied (the answer FORBIDDEN after
/// the write): refused as BAD_USER_INPUT naming `roles`, dry or not, with nothing written. Listing herself
/// goes through; so does the owner's `roles: []`, who reads through the workspace.
#[tokio::test]
async fn a_deployment_file_that_leaves_its_applier_no_read_is_refused_and_writes_nothing() {
    let w = world().await;
    let creator = w.role("WORKSPACE", "Creator", &["workspace.deployments.create", "workspace.deployments.get"]).await;
    data(&w.assign(&w.owner, "alice@example.com", &creator).await);
    let apply = "mutation($w: Uuid!, $file: String!, $dry: Boolean) { applyDeploymentFile(workspaceUuid: $w, file: $file, dryRun: $dry) { created deployment { id label } changes { field old new } } }";
    let count = |label: &str| format!("SELECT count(*) AS n FROM deployments WHERE label = '{label}'");
    let applied =
        "SELECT count(*) AS n FROM audit_events WHERE action IN ('deployment.file.applied', 'deployment.create')";

    // Creating: the list leaves her out.
    let events_before = w.app.count(applied).await;
    let bindings_before = w.app.count("SELECT count(*) AS n FROM role_bindings").await;
    for dry in [true, false] {
        let file = "apiVersion: capcom/v1\nlabel: nobody\nroles: []\n";
        let body = w.app.gql(apply, json!({"w": w.workspace, "file": file, "dry": dry}), Some(&w.alice)).await;
        bad_input(&body, "roles");
        assert!(error_message(&body).contains("read"), "{body}");
    }
    assert_eq!(w.app.count(&count("nobody")).await, 0, "nothing was created");
    assert_eq!(w.app.count(applied).await, events_before);
    assert_eq!(w.app.count("SELECT count(*) AS n FROM role_bindings").await, bindings_before);

    // Listing herself: created, and the answer reads it.
    let mine = "apiVersion: capcom/v1\nlabel: mine\nroles:\n- user: alice@example.com\n  role: DEPLOYMENT_ADMIN\n";
    let body = w.app.gql(apply, json!({"w": w.workspace, "file": mine, "dry": false}), Some(&w.alice)).await;
    assert_eq!(data(&body)["applyDeploymentFile"]["created"], true);
    let id = data(&body)["applyDeploymentFile"]["deployment"]["id"].as_str().unwrap().to_owned();
    assert_eq!(data(&body)["applyDeploymentFile"]["deployment"]["label"], "mine");

    // Updating her deployment with a list that drops her: refused, her role kept.
    let held = format!(
        "SELECT count(*) AS n FROM role_bindings b JOIN emails e ON e.user_id = b.user_id \
         WHERE e.address = 'alice@example.com' AND b.deployment_id = '{id}' AND b.role = 'DEPLOYMENT_ADMIN'"
    );
    assert_eq!(w.app.count(&held).await, 1);
    let snapshot = w.app.deployment_snapshot().await;
    for dry in [true, false] {
        let drop = "apiVersion: capcom/v1\nlabel: mine\nroles: []\n";
        let body = w.app.gql(apply, json!({"w": w.workspace, "file": drop, "dry": dry}), Some(&w.alice)).await;
        bad_input(&body, "roles");
    }
    assert_eq!(w.app.count(&held).await, 1, "her role is kept");
    assert_eq!(w.app.deployment_snapshot().await, snapshot);
    let reads =
        w.app.gql("query($d: String!) { deployment(where: {id: $d}) { id } }", json!({"d": id}), Some(&w.alice)).await;
    assert_eq!(data(&reads)["deployment"]["id"], id.as_str());

    // The owner reads every deployment of the workspace: an empty list is theirs to apply.
    let body = w
        .app
        .gql(
            apply,
            json!({"w": w.workspace, "file": "apiVersion: capcom/v1\nlabel: mine\nroles: []\n", "dry": false}),
            Some(&w.owner),
        )
        .await;
    let changes = data(&body)["applyDeploymentFile"]["changes"].clone();
    assert_eq!(
        changes,
        json!([{"field": "roles[user:alice@example.com]", "old": "DEPLOYMENT_ADMIN", "new": null}]),
        "{body}"
    );
    assert_eq!(w.app.count(&held).await, 0);
}

// ---- Custom deployment roles given with a workspace role (`deploymentRoles`) ------------------------

const ADD_WITH_DEPLOYMENTS: &str = "mutation($w: Uuid!, $email: String!, $role: Role, $custom: Uuid, $d: [DeploymentRoles!]) { workspaceAddUser(workspaceUuid: $w, email: $email, role: $role, customRoleUuid: $custom, deploymentRoles: $d) { id } }";
const TEAM_WITH_DEPLOYMENTS: &str = "mutation($w: Uuid!, $t: Uuid!, $custom: Uuid, $d: [DeploymentRoles!]) { workspaceAddTeam(workspaceUuid: $w, teamUuid: $t, customRoleUuid: $custom, deploymentRoles: $d) { id } }";
const UPDATE_DEPLOYMENT: &str =
    "mutation($d: Uuid!) { updateDeployment(deploymentUuid: $d, payload: {description: \"tuned\"}) { id } }";
const DELETE_DEPLOYMENT: &str = "mutation($d: Uuid!) { deleteDeployment(deploymentUuid: $d) { id } }";
const CAN: &str = "query($p: String!, $s: Uuid!) { can(permission: $p, scopeId: $s) }";

impl World {
    /// `workspaceAddUser(email, role | customRoleUuid, deploymentRoles)` as `token`.
    async fn add_with(
        &self,
        token: &str,
        email: &str,
        role: Option<&str>,
        custom: Option<&str>,
        items: Value,
    ) -> Value {
        let variables = json!({"w": self.workspace, "email": email, "role": role, "custom": custom, "d": items});
        self.app.gql(ADD_WITH_DEPLOYMENTS, variables, Some(token)).await
    }

    /// `workspaceAddTeam(team, role | customRoleUuid, deploymentRoles)` as `token`.
    async fn add_team_with(&self, token: &str, team: &str, custom: Option<&str>, items: Value) -> Value {
        let variables = json!({"w": self.workspace, "t": team, "custom": custom, "d": items});
        self.app.gql(TEAM_WITH_DEPLOYMENTS, variables, Some(token)).await
    }

    /// A new team of the default organization (made by owner2); returns its id.
    async fn team(&self, name: &str) -> String {
        let body = self
            .app
            .gql(
                "mutation($org: Uuid!, $n: String!) { createTeam(organizationUuid: $org, name: $n) { id } }",
                json!({"org": self.org, "n": name}),
                Some(&self.owner),
            )
            .await;
        data(&body)["createTeam"]["id"].as_str().unwrap().to_owned()
    }

    async fn user_id(&self, email: &str) -> String {
        self.app.text(&format!("SELECT user_id::text AS t FROM emails WHERE address = '{email}'")).await
    }

    /// How many bindings on `deployment` hold custom role `role`.
    async fn holders_on(&self, deployment: &str, role: &str) -> i64 {
        self.app
            .count(&format!(
                "SELECT count(*) AS n FROM role_bindings WHERE deployment_id = '{deployment}' AND role = 'DEPLOYMENT_CUSTOM' AND custom_role_id = '{role}'"
            ))
            .await
    }

    /// Whether the holder of `token` has `permission` on `scope` (the `can` query).
    async fn can(&self, token: &str, permission: &str, scope: &str) -> bool {
        let body = self.app.gql(CAN, json!({"p": permission, "s": scope}), Some(token)).await;
        data(&body)["can"].as_bool().unwrap()
    }
}

/// docs/custom-roles.md: a custom role is assignable wherever a built-in role of its scope is, so each
/// item of `deploymentRoles` names a DEPLOYMENT_* role or, with `customRoleUuid`, a custom deployment
/// role. A workspace admin gives one with a workspace role; the holder gets exactly its permissions there,
/// the binding and the audit event name it, and the role cannot be deleted while it is held.
#[tokio::test]
async fn a_workspace_admin_gives_a_custom_deployment_role_with_workspace_add_user() {
    let w = world().await;
    let operator = w.role("DEPLOYMENT", "Operator", &["deployment.config.get", "deployment.config.update"]).await;
    let second = w.app.create_deployment(&w.owner, &w.workspace, "D2").await["id"].as_str().unwrap().to_owned();
    // Carol administers the workspace (built-in WORKSPACE_ADMIN, not an organization owner).
    data(&w.app.add_to_workspace(&w.owner, &w.workspace, "carol@example.com", "WORKSPACE_ADMIN").await);

    let items = json!([
        {"deploymentId": w.deployment, "customRoleUuid": operator},
        {"deploymentId": second, "role": "DEPLOYMENT_EDITOR"},
    ]);
    data(&w.add_with(&w.carol, "alice@example.com", Some("WORKSPACE_VIEWER"), None, items).await);
    assert_eq!(w.holders_on(&w.deployment, &operator).await, 1);
    let alice_id = w.user_id("alice@example.com").await;
    let editor = format!(
        "SELECT count(*) AS n FROM role_bindings WHERE user_id = '{alice_id}' AND deployment_id = '{second}' AND role = 'DEPLOYMENT_EDITOR' AND custom_role_id IS NULL"
    );
    assert_eq!(w.app.count(&editor).await, 1);

    // What alice's bindings show.
    let me = w.app.gql("{ self { roleBindings { role customRole { name } } } }", json!({}), Some(&w.alice)).await;
    let bindings = data(&me)["self"]["roleBindings"].as_array().unwrap().clone();
    assert!(
        bindings.iter().any(|b| b["role"] == "DEPLOYMENT_CUSTOM" && b["customRole"]["name"] == "Operator"),
        "{bindings:?}"
    );
    // Exactly the role's permissions on D (WORKSPACE_VIEWER adds DEPLOYMENT_VIEWER's, not config.update).
    data(&w.app.gql(UPDATE_DEPLOYMENT, json!({"d": w.deployment}), Some(&w.alice)).await);
    forbidden(&w.app.gql(DELETE_DEPLOYMENT, json!({"d": w.deployment}), Some(&w.alice)).await);
    assert!(w.can(&w.alice, "deployment.config.update", &w.deployment).await);
    assert!(!w.can(&w.alice, "deployment.iam.update", &w.deployment).await);

    // The audit event names each deployment role, the custom one by id and name.
    let event = w.event(json!({"workspaceUuid": w.workspace}), "workspace.user.add").await;
    let roles = event["after"]["deploymentRoles"].as_array().unwrap_or_else(|| panic!("{event}")).clone();
    assert_eq!(roles.len(), 2, "{event}");
    let on_d = roles.iter().find(|r| r["deploymentId"] == w.deployment.as_str()).unwrap();
    names_role(on_d, "DEPLOYMENT_CUSTOM", &operator, "Operator");
    let on_second = roles.iter().find(|r| r["deploymentId"] == second.as_str()).unwrap();
    assert_eq!(on_second["role"], "DEPLOYMENT_EDITOR", "{event}");
    assert!(on_second["customRoleId"].is_null(), "{event}");

    // Held through this binding: deleting the role is CONFLICT.
    let refused = w.app.gql(DELETE, json!({"id": operator}), Some(&w.owner)).await;
    assert_eq!(error_code(&refused), "CONFLICT", "{refused}");
    // A custom workspace role and a custom deployment role together.
    let reader = w.role("WORKSPACE", "Reader", &["workspace.config.get"]).await;
    let items = json!([{"deploymentId": second, "customRoleUuid": operator}]);
    data(&w.add_with(&w.owner, "bob@example.com", None, Some(&reader), items).await);
    assert_eq!(w.holders_on(&second, &operator).await, 1);
}

/// Each item names `role` or `customRoleUuid`, exactly as the operation's own pair (both, or neither, is
/// BAD_USER_INPUT; a marker cannot be asked for by name); the custom role must be a deployment role of the
/// workspace's organization. Errors name the item at fault; another organization's role gets the very
/// answer an id naming nothing gets. Each refusal changes nothing, for a member, a newcomer (an invite)
/// and a team.
#[tokio::test]
async fn deployment_roles_name_the_item_at_fault_and_tell_nothing_of_other_organizations() {
    let w = world().await;
    let operator = w.role("DEPLOYMENT", "Operator", &["deployment.config.get"]).await;
    let reader = w.role("WORKSPACE", "Reader", &["workspace.config.get"]).await;
    let acme_role = w.create(&w.root, &w.acme, "DEPLOYMENT", "Acme operator", &["deployment.config.get"]).await;
    let acme_role = data(&acme_role)["createCustomRole"]["id"].as_str().unwrap().to_owned();
    let second = w.app.create_deployment(&w.owner, &w.workspace, "D2").await["id"].as_str().unwrap().to_owned();
    let third = w.app.create_deployment(&w.owner, &w.workspace, "D3").await["id"].as_str().unwrap().to_owned();
    let elsewhere = w.app.create_workspace(&w.owner, "Elsewhere").await;
    let foreign = w.app.create_deployment(&w.owner, &elsewhere, "F").await["id"].as_str().unwrap().to_owned();
    let team = w.team("Ops").await;
    let random = uuid::Uuid::new_v4().to_string();
    let d = &w.deployment;

    let before = w.app.access_snapshot().await;
    let cases: Vec<(Value, &str)> = vec![
        // Both, on the second item.
        (
            json!([{"deploymentId": d, "role": "DEPLOYMENT_VIEWER"}, {"deploymentId": second, "role": "DEPLOYMENT_CUSTOM", "customRoleUuid": operator}]),
            "deploymentRoles[1].customRoleUuid",
        ),
        (
            json!([{"deploymentId": d, "role": "DEPLOYMENT_VIEWER", "customRoleUuid": operator}]),
            "deploymentRoles[0].customRoleUuid",
        ),
        // Neither.
        (json!([{"deploymentId": d}]), "deploymentRoles[0].role"),
        // The marker by name, and a role of another scope.
        (json!([{"deploymentId": d, "role": "DEPLOYMENT_CUSTOM"}]), "deploymentRoles[0].role"),
        (
            json!([{"deploymentId": d, "customRoleUuid": operator}, {"deploymentId": second, "role": "WORKSPACE_VIEWER"}]),
            "deploymentRoles[1].role",
        ),
        // A custom workspace role.
        (
            json!([{"deploymentId": d, "role": "DEPLOYMENT_VIEWER"}, {"deploymentId": second, "customRoleUuid": reader}]),
            "deploymentRoles[1].customRoleUuid",
        ),
        // An empty deployment id on the third item.
        (
            json!([{"deploymentId": d, "role": "DEPLOYMENT_VIEWER"}, {"deploymentId": second, "role": "DEPLOYMENT_VIEWER"}, {"deploymentId": "", "role": "DEPLOYMENT_VIEWER"}]),
            "deploymentRoles[2].deploymentId",
        ),
        // The same deployment twice.
        (
            json!([{"deploymentId": d, "role": "DEPLOYMENT_VIEWER"}, {"deploymentId": d, "customRoleUuid": operator}]),
            "deploymentRoles[1].deploymentId",
        ),
    ];
    for (items, field) in &cases {
        for (who, body) in [
            ("member", w.add_with(&w.owner, "alice@example.com", None, None, items.clone()).await),
            ("newcomer", w.add_with(&w.owner, "newcomer@example.com", None, None, items.clone()).await),
            ("team", w.add_team_with(&w.owner, &team, Some(&reader), items.clone()).await),
        ] {
            assert_eq!(error_code(&body), "BAD_USER_INPUT", "{who} {items}: {body}");
            assert_eq!(body["errors"][0]["extensions"]["field"], *field, "{who} {items}: {body}");
        }
    }

    // Another organization's role (its owner asking, who sees both organizations) and an id that names
    // nothing: the same answer, naming the item.
    let mut answers = Vec::new();
    for id in [&acme_role, &random] {
        let items =
            json!([{"deploymentId": d, "role": "DEPLOYMENT_VIEWER"}, {"deploymentId": third, "customRoleUuid": id}]);
        for (who, body) in [
            ("member", w.add_with(&w.root, "alice@example.com", None, None, items.clone()).await),
            ("newcomer", w.add_with(&w.root, "newcomer@example.com", None, None, items.clone()).await),
            ("team", w.add_team_with(&w.root, &team, Some(&reader), items.clone()).await),
        ] {
            assert_eq!(error_code(&body), "BAD_USER_INPUT", "{who}: {body}");
            assert_eq!(body["errors"][0]["extensions"]["field"], "deploymentRoles[1].customRoleUuid", "{who}: {body}");
            answers.push(error_message(&body).to_owned());
        }
    }
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
    assert!(!answers[0].contains("Acme"), "{answers:?}");

    // A deployment of another workspace is NOT_FOUND (SPEC §2 rule 6).
    let items = json!([{"deploymentId": foreign, "customRoleUuid": operator}]);
    assert_eq!(error_code(&w.add_with(&w.owner, "alice@example.com", None, None, items.clone()).await), "NOT_FOUND");
    assert_eq!(error_code(&w.add_team_with(&w.owner, &team, Some(&reader), items).await), "NOT_FOUND");
    assert_eq!(before, w.app.access_snapshot().await, "the refused requests changed nothing");
    assert_eq!(w.app.count("SELECT count(*) AS n FROM invites").await, 0);
}

/// SPEC §2 grant rule, per item: nobody assigns a custom deployment role holding a permission they lack on
/// that deployment. Carol runs workspace IAM through a custom workspace role and holds the custom role
/// Watcher (`deployment.config.get`) on D: she may give Watcher there, not Operator (which adds
/// `deployment.config.update`), to a member, a newcomer or a team; each refusal writes nothing.
#[tokio::test]
async fn nobody_gives_a_custom_deployment_role_holding_a_permission_they_lack() {
    let w = world().await;
    let iam = w
        .role(
            "WORKSPACE",
            "IAM",
            &["workspace.config.get", "workspace.users.get", "workspace.invites.get", "workspace.iam.update"],
        )
        .await;
    let reader = w.role("WORKSPACE", "Reader", &["workspace.config.get"]).await;
    let watcher = w.role("DEPLOYMENT", "Watcher", &["deployment.config.get"]).await;
    let operator = w.role("DEPLOYMENT", "Operator", &["deployment.config.get", "deployment.config.update"]).await;
    data(&w.assign(&w.owner, "carol@example.com", &iam).await);
    let give = "mutation($d: Id!, $c: Uuid!) { deploymentAddUserRole(email: \"carol@example.com\", deploymentId: $d, customRoleUuid: $c) { id } }";
    data(&w.app.gql(give, json!({"d": w.deployment, "c": watcher}), Some(&w.owner)).await);
    let team = w.team("Ops").await;

    let second = w.app.create_deployment(&w.owner, &w.workspace, "D2").await["id"].as_str().unwrap().to_owned();

    let before = w.app.access_snapshot().await;
    let lacking = json!([{"deploymentId": w.deployment, "customRoleUuid": operator}]);
    forbidden(&w.add_with(&w.carol, "alice@example.com", None, Some(&reader), lacking.clone()).await);
    forbidden(&w.add_with(&w.carol, "newcomer@example.com", None, Some(&reader), lacking.clone()).await);
    forbidden(&w.add_team_with(&w.carol, &team, Some(&reader), lacking).await);
    // A held item does not let a lacking one through: carol holds nothing on D2.
    let one_lacking = json!([
        {"deploymentId": w.deployment, "customRoleUuid": watcher},
        {"deploymentId": second, "customRoleUuid": watcher},
    ]);
    forbidden(&w.add_with(&w.carol, "alice@example.com", None, Some(&reader), one_lacking.clone()).await);
    forbidden(&w.add_team_with(&w.carol, &team, Some(&reader), one_lacking).await);
    // Built-in DEPLOYMENT_VIEWER holds more than Watcher (deployment.users.get, …).
    let viewer = json!([{"deploymentId": w.deployment, "role": "DEPLOYMENT_VIEWER"}]);
    forbidden(&w.add_with(&w.carol, "alice@example.com", None, Some(&reader), viewer).await);
    assert_eq!(before, w.app.access_snapshot().await, "the refused grants changed nothing");
    assert_eq!(w.holders_on(&w.deployment, &operator).await, 0);
    assert_eq!(w.app.count("SELECT count(*) AS n FROM invites").await, 0);
    assert_eq!(
        w.app.count(&format!("SELECT count(*) AS n FROM role_bindings WHERE team_id = '{team}'")).await,
        0,
        "the team got neither its workspace role nor a deployment role"
    );

    // What she holds, she may give: to a member, a newcomer and a team.
    let held = json!([{"deploymentId": w.deployment, "customRoleUuid": watcher}]);
    data(&w.add_with(&w.carol, "alice@example.com", None, Some(&reader), held.clone()).await);
    data(&w.add_with(&w.carol, "newcomer@example.com", None, Some(&reader), held.clone()).await);
    data(&w.add_team_with(&w.carol, &team, Some(&reader), held).await);
    assert_eq!(w.holders_on(&w.deployment, &watcher).await, 3, "carol, alice and the team");
    assert_eq!(w.app.count("SELECT count(*) AS n FROM invites WHERE email = 'newcomer@example.com'").await, 1);
}

/// A team given a workspace role with custom deployment roles: its members hold them, the `team.role`
/// event names them, and the roles cannot be deleted while the team holds them.
#[tokio::test]
async fn workspace_add_team_gives_custom_deployment_roles() {
    let w = world().await;
    let reader = w.role("WORKSPACE", "Reader", &["workspace.config.get", "workspace.deployments.get"]).await;
    let operator = w.role("DEPLOYMENT", "Operator", &["deployment.config.get", "deployment.config.update"]).await;
    let team = w.team("Ops").await;
    let bob_id = w.user_id("bob@example.com").await;
    let join = "mutation($t: Uuid!, $u: Uuid!) { teamAddUser(teamUuid: $t, userUuid: $u) { id } }";
    data(&w.app.gql(join, json!({"t": team, "u": bob_id}), Some(&w.owner)).await);
    forbidden(&w.app.gql(UPDATE_DEPLOYMENT, json!({"d": w.deployment}), Some(&w.bob)).await);

    let items = json!([{"deploymentId": w.deployment, "customRoleUuid": operator}]);
    data(&w.add_team_with(&w.owner, &team, Some(&reader), items).await);
    let held = format!(
        "SELECT count(*) AS n FROM role_bindings WHERE team_id = '{team}' AND deployment_id = '{}' AND custom_role_id = '{operator}'",
        w.deployment
    );
    assert_eq!(w.app.count(&held).await, 1);
    data(&w.app.gql(UPDATE_DEPLOYMENT, json!({"d": w.deployment}), Some(&w.bob)).await);
    forbidden(&w.app.gql(DELETE_DEPLOYMENT, json!({"d": w.deployment}), Some(&w.bob)).await);

    let event = w.event(json!({"workspaceUuid": w.workspace}), "team.role").await;
    names_role(&event["after"], "WORKSPACE_CUSTOM", &reader, "Reader");
    names_role(&event["after"]["deploymentRoles"][0], "DEPLOYMENT_CUSTOM", &operator, "Operator");
    assert_eq!(event["after"]["deploymentRoles"][0]["deploymentId"], w.deployment.as_str(), "{event}");
    assert_eq!(error_code(&w.app.gql(DELETE, json!({"id": operator}), Some(&w.owner)).await), "CONFLICT");

    // Leaving the workspace takes the deployment role too; then the role can go.
    let leave = "mutation($w: Uuid!, $t: Uuid!) { workspaceRemoveTeam(workspaceUuid: $w, teamUuid: $t) { id } }";
    data(&w.app.gql(leave, json!({"w": w.workspace, "t": team}), Some(&w.owner)).await);
    assert_eq!(w.app.count(&held).await, 0);
    data(&w.app.gql(DELETE, json!({"id": operator}), Some(&w.owner)).await);
}

/// An invite carries its custom deployment roles: stored by id, named in its audit events, re-checked
/// against the inviter as they are at acceptance (SPEC §2: when it is created and when it is accepted),
/// and granted on acceptance, by sign-up or by `acceptInvite`. While it is pending the role cannot be
/// deleted (as for an invite's custom workspace role); a deployment deleted meanwhile grants nothing and no
/// longer holds its role.
#[tokio::test]
async fn an_invite_carries_custom_deployment_roles_and_grants_them_when_accepted() {
    let w = world().await;
    let reader = w.role("WORKSPACE", "Reader", &["workspace.config.get", "workspace.deployments.get"]).await;
    let operator = w.role("DEPLOYMENT", "Operator", &["deployment.config.get", "deployment.config.update"]).await;
    let temporary = w.role("DEPLOYMENT", "Temporary", &["deployment.config.get"]).await;
    let doomed = w.app.create_deployment(&w.owner, &w.workspace, "doomed").await["id"].as_str().unwrap().to_owned();

    // Sign-up through the invite.
    let items = json!([
        {"deploymentId": w.deployment, "customRoleUuid": operator},
        {"deploymentId": doomed, "customRoleUuid": temporary},
    ]);
    data(&w.add_with(&w.owner, "newcomer@example.com", None, Some(&reader), items).await);
    let stored = w
        .app
        .count(&format!(
            "SELECT count(*) AS n FROM invites WHERE email = 'newcomer@example.com' AND deployment_roles @> '[{{\"deploymentId\": \"{}\", \"customRoleId\": \"{operator}\"}}]'",
            w.deployment
        ))
        .await;
    assert_eq!(stored, 1, "the invite names the custom role by id");
    let created = w.event(json!({"workspaceUuid": w.workspace}), "invite.create").await;
    let entries = created["after"]["deploymentRoles"].as_array().unwrap_or_else(|| panic!("{created}")).clone();
    let on_d = entries.iter().find(|e| e["deploymentId"] == w.deployment.as_str()).unwrap();
    names_role(on_d, "DEPLOYMENT_CUSTOM", &operator, "Operator");
    // Pending: the roles it carries cannot be deleted.
    assert_eq!(error_code(&w.app.gql(DELETE, json!({"id": operator}), Some(&w.owner)).await), "CONFLICT");
    assert_eq!(error_code(&w.app.gql(DELETE, json!({"id": temporary}), Some(&w.owner)).await), "CONFLICT");
    // Once its deployment is deleted, an entry holds its role no more.
    data(&w.app.gql(DELETE_DEPLOYMENT, json!({"d": doomed}), Some(&w.owner)).await);
    data(&w.app.gql(DELETE, json!({"id": temporary}), Some(&w.owner)).await);

    let token = w.app.invite_token_for("newcomer@example.com").await;
    let signed_up = w
        .app
        .gql(
            "mutation($t: String!) { createUser(email: \"newcomer@example.com\", password: \"correct horse battery\", inviteToken: $t) { token { value } } }",
            json!({"t": token}),
            None,
        )
        .await;
    let newcomer = data(&signed_up)["createUser"]["token"]["value"].as_str().unwrap().to_owned();
    assert_eq!(w.holders_on(&w.deployment, &operator).await, 1);
    data(&w.app.gql(UPDATE_DEPLOYMENT, json!({"d": w.deployment}), Some(&newcomer)).await);
    forbidden(&w.app.gql(DELETE_DEPLOYMENT, json!({"d": w.deployment}), Some(&newcomer)).await);
    let event = w.event(json!({"organizationUuid": w.org}), "user.create").await;
    let applied = &event["after"]["invitesApplied"][0];
    let on_d = applied["deploymentRoles"]
        .as_array()
        .unwrap_or_else(|| panic!("{event}"))
        .iter()
        .find(|e| e["deploymentId"] == w.deployment.as_str())
        .unwrap()
        .clone();
    names_role(&on_d, "DEPLOYMENT_CUSTOM", &operator, "Operator");

    // `acceptInvite` by someone outside the organization, invited by carol, who runs workspace IAM
    // through a custom role and holds Operator on D: re-checked against carol as she is at acceptance.
    let iam = w
        .role(
            "WORKSPACE",
            "IAM",
            &["workspace.config.get", "workspace.users.get", "workspace.invites.get", "workspace.iam.update"],
        )
        .await;
    let narrow = w.role("WORKSPACE", "Narrow", &["workspace.config.get"]).await;
    data(&w.assign(&w.owner, "carol@example.com", &iam).await);
    let give = "mutation($d: Id!, $c: Uuid!) { deploymentAddUserRole(email: \"carol@example.com\", deploymentId: $d, customRoleUuid: $c) { id } }";
    data(&w.app.gql(give, json!({"d": w.deployment, "c": operator}), Some(&w.owner)).await);
    let dave_id = w.user_id("dave@example.com").await;
    let remove = "mutation($o: Uuid!, $u: Uuid!) { organizationRemoveUser(organizationUuid: $o, userUuid: $u) }";
    data(&w.app.gql(remove, json!({"o": w.org, "u": dave_id}), Some(&w.owner)).await);
    let items = json!([{"deploymentId": w.deployment, "customRoleUuid": operator}]);
    data(&w.add_with(&w.carol, "dave@example.com", None, Some(&narrow), items).await);
    assert_eq!(w.app.count("SELECT count(*) AS n FROM invites WHERE email = 'dave@example.com'").await, 1);
    let token = w.app.invite_token_for("dave@example.com").await;
    let dave = w.app.sign_in("dave@example.com", PASSWORD).await["data"]["createToken"]["token"]["value"]
        .as_str()
        .unwrap()
        .to_owned();
    let accept = "mutation($t: String!) { acceptInvite(token: $t) { id } }";

    // Carol gives up Operator on D for Watcher: she can no longer grant it, so the invite grants nothing.
    let watcher = w.role("DEPLOYMENT", "Watcher", &["deployment.config.get"]).await;
    let change = "mutation($d: Id!, $c: Uuid!) { deploymentUpdateUserRole(email: \"carol@example.com\", deploymentId: $d, customRoleUuid: $c) { id } }";
    data(&w.app.gql(change, json!({"d": w.deployment, "c": watcher}), Some(&w.owner)).await);
    let before = w.app.access_snapshot().await;
    forbidden(&w.app.gql(accept, json!({"t": token}), Some(&dave)).await);
    assert_eq!(before, w.app.access_snapshot().await, "a refused acceptance changes nothing");
    assert_eq!(w.holders_on(&w.deployment, &operator).await, 1, "only the newcomer holds Operator");

    // Operator back: the acceptance grants it.
    data(&w.app.gql(change, json!({"d": w.deployment, "c": operator}), Some(&w.owner)).await);
    data(&w.app.gql(accept, json!({"t": token}), Some(&dave)).await);
    let dave_holds = format!(
        "SELECT count(*) AS n FROM role_bindings WHERE user_id = '{dave_id}' AND deployment_id = '{}' AND custom_role_id = '{operator}'",
        w.deployment
    );
    assert_eq!(w.app.count(&dave_holds).await, 1);
    assert!(w.can(&dave, "deployment.config.update", &w.deployment).await);
    let accepted = w.event(json!({"workspaceUuid": w.workspace}), "invite.accept").await;
    names_role(&accepted["before"]["deploymentRoles"][0], "DEPLOYMENT_CUSTOM", &operator, "Operator");
    assert_eq!(w.app.count("SELECT count(*) AS n FROM invites").await, 0);
}
