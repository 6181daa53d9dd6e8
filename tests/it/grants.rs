//! Issue 21, "one grant path": every path that grants or takes away a role applies the grant rule and the
//! membership rules of SPEC §2, each tried as an attacker would, over HTTP. Expectations are written by
//! hand from SPEC; a refused change is shown to change nothing.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{TestApp, error_code};

const PASSWORD: &str = "correct horse battery";

async fn public_app() -> TestApp {
    TestApp::spawn_with(|config| config.public_signups = true).await
}

fn ok(body: &Value) -> &Value {
    assert!(body.get("errors").is_none() || body["errors"].is_null(), "{body}");
    &body["data"]
}

/// Signs in `email`; returns the token.
pub async fn token_of(app: &TestApp, email: &str) -> String {
    let body = app.sign_in(email, PASSWORD).await;
    body["data"]["createToken"]["token"]["value"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned()
}

/// The token of the newest invite mailed to `email`, read from the mail outbox (it is never returned to
/// the inviter).
pub async fn invite_token(app: &TestApp, email: &str) -> String {
    let token = app
        .text(&format!(
            "SELECT substring(body_text from 'Invite token: (cci_[A-Za-z0-9_-]+)') AS t FROM mail_outbox \
             WHERE recipient = '{email}' ORDER BY created_at DESC, id DESC LIMIT 1"
        ))
        .await;
    assert!(token.starts_with("cci_"), "no invite mailed to {email}");
    token
}

/// Runs a statement (wrapped so that it returns a count), for setting up states no API path reaches.
async fn execute(app: &TestApp, statement: &str) {
    app.count(&format!("WITH done AS ({statement} RETURNING 1) SELECT count(*) AS n FROM done")).await;
}

/// Every row a grant could change: the common snapshot plus team memberships, organizations (their join
/// counters), removals and service accounts.
async fn snapshot(app: &TestApp) -> String {
    let mut parts = vec![app.access_snapshot().await];
    // A key's `lastUsedAt` moves on every use, refused or not: it is not a grant.
    for table in [
        "team_members",
        "organizations",
        "organization_removals",
        "(SELECT id, label, scope, active, key_hash, expires_at FROM service_accounts)",
    ] {
        parts.push(
            app.text(&format!("SELECT coalesce(json_agg(t ORDER BY t::text), '[]')::text AS t FROM {table} t")).await,
        );
    }
    parts.join("\n")
}

async fn default_organization(app: &TestApp) -> String {
    app.text("SELECT id::text AS t FROM organizations WHERE is_default").await
}

async fn role_in(app: &TestApp, organization: &str, user: &str) -> String {
    app.text(&format!(
        "SELECT coalesce((SELECT role FROM role_bindings WHERE organization_id = '{organization}' AND user_id = '{user}'), '') AS t"
    ))
    .await
}

async fn create_team(app: &TestApp, token: &str, organization: &str, name: &str) -> String {
    let body = app
        .gql(
            "mutation($o: Uuid, $n: String!) { createTeam(organizationUuid: $o, name: $n) { id } }",
            json!({"o": organization, "n": name}),
            Some(token),
        )
        .await;
    ok(&body)["createTeam"]["id"].as_str().unwrap().to_owned()
}

async fn create_organization(app: &TestApp, token: &str, name: &str) -> String {
    let body =
        app.gql("mutation($n: String!) { createOrganization(name: $n) { id } }", json!({"n": name}), Some(token)).await;
    ok(&body)["createOrganization"]["id"].as_str().unwrap().to_owned()
}

const TEAM_ADD: &str = "mutation($t: Uuid!, $u: Uuid!) { teamAddUser(teamUuid: $t, userUuid: $u) { id } }";
const SYSTEM_KEY: &str = "mutation { createSystemServiceAccount(label: \"mine\", role: SYSTEM_ADMIN) { id apiKey } }";
const ORG_INVITE: &str = "mutation($o: Uuid!, $e: String!) { organizationInviteUser(organizationUuid: $o, email: $e) { role invite { email role } } }";
const ORG_REMOVE: &str =
    "mutation($o: Uuid!, $u: Uuid!) { organizationRemoveUser(organizationUuid: $o, userUuid: $u) }";
const ACCEPT: &str = "mutation($t: String!) { acceptInvite(token: $t) { id } }";

// ---- 3. Organization owner → SYSTEM_ADMIN through a team ------------------------------------------

#[tokio::test]
async fn an_owner_cannot_join_a_team_that_holds_system_admin() {
    let app = public_app().await;
    let root = app.with_owners().await;
    let owner = token_of(&app, "owner2@example.com").await;
    let owner_id = app.text("SELECT user_id::text AS t FROM emails WHERE address = 'owner2@example.com'").await;
    let organization = default_organization(&app).await;
    // A system admin gives a team SYSTEM_ADMIN.
    let team = create_team(&app, &root, &organization, "Platform").await;
    ok(&app
        .gql(
            "mutation($t: Uuid!) { createTeamSystemRoleBinding(teamUuid: $t, role: SYSTEM_ADMIN) { role } }",
            json!({"t": team}),
            Some(&root),
        )
        .await);
    let before = snapshot(&app).await;

    // The owner (no system role) adds themself: refused, since it would grant SYSTEM_ADMIN.
    let joined = app.gql(TEAM_ADD, json!({"t": team, "u": owner_id}), Some(&owner)).await;
    assert_eq!(error_code(&joined), "FORBIDDEN", "{joined}");
    let key = app.gql(SYSTEM_KEY, json!({}), Some(&owner)).await;
    assert_eq!(error_code(&key), "FORBIDDEN", "{key}");
    assert_eq!(snapshot(&app).await, before, "nothing changed");

    // A system admin may add them.
    ok(&app.gql(TEAM_ADD, json!({"t": team, "u": owner_id}), Some(&root)).await);
    // …and only someone who may grant SYSTEM_ADMIN may take it away again.
    let other = token_of(&app, "owner3@example.com").await;
    let before = snapshot(&app).await;
    let removed = app
        .gql(
            "mutation($t: Uuid!, $u: Uuid!) { teamRemoveUser(teamUuid: $t, userUuid: $u) { id } }",
            json!({"t": team, "u": owner_id}),
            Some(&other),
        )
        .await;
    assert_eq!(error_code(&removed), "FORBIDDEN", "{removed}");
    let deleted =
        app.gql("mutation($t: Uuid!) { deleteTeam(teamUuid: $t) { id } }", json!({"t": team}), Some(&other)).await;
    assert_eq!(error_code(&deleted), "FORBIDDEN", "{deleted}");
    // Removing them from the organization would take the team's SYSTEM_ADMIN away too: the same refusal.
    let removed = app.gql(ORG_REMOVE, json!({"o": organization, "u": owner_id}), Some(&other)).await;
    assert_eq!(error_code(&removed), "FORBIDDEN", "{removed}");
    assert_eq!(snapshot(&app).await, before, "nothing changed");
}

// ---- The founders' rule applies the grant rule too ------------------------------------------------

#[tokio::test]
async fn a_workspace_key_cannot_make_an_organization_owner_through_the_founders_rule() {
    let app = public_app().await;
    let root = app.with_owners().await;
    // A new organization has one join (its creator): the next two joins would be founders.
    let organization = create_organization(&app, &root, "Fresh").await;
    let workspace = app
        .gql(
            "mutation($o: Uuid!) { createWorkspace(label: \"Data\", organizationUuid: $o) { id } }",
            json!({"o": organization}),
            Some(&root),
        )
        .await;
    let workspace = ok(&workspace)["createWorkspace"]["id"].as_str().unwrap().to_owned();
    let key = app
        .gql(
            "mutation($w: Uuid!) { createWorkspaceServiceAccount(label: \"ci\", workspaceUuid: $w, role: WORKSPACE_ADMIN) { apiKey } }",
            json!({"w": workspace}),
            Some(&root),
        )
        .await;
    let key = ok(&key)["createWorkspaceServiceAccount"]["apiKey"].as_str().unwrap().to_owned();
    // The key (which may not grant ORGANIZATION_OWNER) invites a stranger to its workspace…
    ok(&app.add_to_workspace(&key, &workspace, "attacker@evil.example", "WORKSPACE_VIEWER").await);
    let token = invite_token(&app, "attacker@evil.example").await;
    let body = app
        .gql(
            "mutation($t: String!) { createUser(email: \"attacker@evil.example\", password: \"correct horse battery\", inviteToken: $t) { user { id } } }",
            json!({"t": token}),
            None,
        )
        .await;
    let attacker = ok(&body)["createUser"]["user"]["id"].as_str().unwrap().to_owned();
    // …who joins as a member, not as a founder-owner.
    assert_eq!(role_in(&app, &organization, &attacker).await, "ORGANIZATION_MEMBER");
}

#[tokio::test]
async fn joining_a_team_needs_every_role_it_holds_even_in_another_organization() {
    let app = public_app().await;
    let root = app.with_owners().await;
    let owner = token_of(&app, "owner2@example.com").await;
    let owner_id = app.text("SELECT user_id::text AS t FROM emails WHERE address = 'owner2@example.com'").await;
    let organization = default_organization(&app).await;
    let acme = create_organization(&app, &root, "Acme").await;
    let team = create_team(&app, &root, &organization, "Bridge").await;
    // No API path gives a team a role in another organization; data from before that rule may.
    execute(
        &app,
        &format!(
            "INSERT INTO role_bindings (id, role, team_id, scope, organization_id) \
             VALUES (gen_random_uuid(), 'ORGANIZATION_OWNER', '{team}', 'ORGANIZATION', '{acme}')"
        ),
    )
    .await;
    let before = snapshot(&app).await;
    let joined = app.gql(TEAM_ADD, json!({"t": team, "u": owner_id}), Some(&owner)).await;
    assert_eq!(error_code(&joined), "FORBIDDEN", "{joined}");
    assert_eq!(snapshot(&app).await, before, "nothing changed");
}

async fn scim_patch(app: &TestApp, key: &str, team: &str, body: Value) -> (StatusCode, Value) {
    let response = app
        .client
        .request(Method::PATCH, format!("{}/scim/v2/Groups/{team}", app.base))
        .bearer_auth(key)
        .header("content-type", "application/scim+json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn scim_cannot_add_members_to_a_team_that_holds_a_system_role() {
    let app = public_app().await;
    let root = app.with_owners().await;
    let (_, member_id) = app.sign_up("member@example.com", PASSWORD).await;
    let organization = default_organization(&app).await;
    // The organization's provisioning acts on addresses of its verified domains (SPEC §3.1).
    crate::domains::claim_and_verify(&app, &root, &organization, "example.com").await;
    let team = create_team(&app, &root, &organization, "Platform").await;
    ok(&app
        .gql(
            "mutation($t: Uuid!) { createTeamSystemRoleBinding(teamUuid: $t, role: SYSTEM_VIEWER) { role } }",
            json!({"t": team}),
            Some(&root),
        )
        .await);
    let created = app
        .gql(
            "mutation($o: Uuid!) { createOrganizationServiceAccount(label: \"scim\", organizationUuid: $o, role: ORGANIZATION_OWNER) { apiKey } }",
            json!({"o": organization}),
            Some(&root),
        )
        .await;
    let key = ok(&created)["createOrganizationServiceAccount"]["apiKey"].as_str().unwrap().to_owned();
    let before = snapshot(&app).await;
    let (status, body) = scim_patch(
        &app,
        &key,
        &team,
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
               "Operations": [{"op": "add", "path": "members", "value": [{"value": member_id}]}]}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(snapshot(&app).await, before, "nothing changed");

    // A team without a system role is the provider's to fill.
    let plain = create_team(&app, &root, &organization, "Data").await;
    let (status, body) = scim_patch(
        &app,
        &key,
        &plain,
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
               "Operations": [{"op": "add", "path": "members", "value": [{"value": member_id}]}]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

// ---- 5. The founders' rule counts joins -----------------------------------------------------------

#[tokio::test]
async fn removing_founders_does_not_make_the_next_newcomer_an_owner() {
    let app = public_app().await;
    let (root, root_id) = app.sign_up("root@example.com", PASSWORD).await;
    let (_, second) = app.sign_up("second@example.com", PASSWORD).await;
    let (_, third) = app.sign_up("third@example.com", PASSWORD).await;
    let organization = default_organization(&app).await;
    assert_eq!(role_in(&app, &organization, &second).await, "ORGANIZATION_OWNER");
    for owner in [&second, &third] {
        ok(&app.gql(ORG_REMOVE, json!({"o": organization, "u": owner}), Some(&root)).await);
    }
    let (_, fourth) = app.sign_up("fourth@example.com", PASSWORD).await;
    assert_eq!(role_in(&app, &organization, &fourth).await, "ORGANIZATION_MEMBER", "the fourth join is a member");
    assert_eq!(role_in(&app, &organization, &root_id).await, "ORGANIZATION_OWNER", "the founder keeps ownership");
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM role_bindings WHERE organization_id = '{organization}' AND role = 'ORGANIZATION_OWNER'"
        ))
        .await,
        1
    );
}

// ---- 7. Removals stick ------------------------------------------------------------------------------

#[tokio::test]
async fn a_removed_person_is_not_brought_back_by_a_domain_join() {
    let app = public_app().await;
    let (root, _) = app.sign_up("root@example.com", PASSWORD).await;
    let acme = create_organization(&app, &root, "Acme").await;
    crate::domains::claim_and_verify(&app, &root, &acme, "acme.test").await;
    // Two people with verified addresses of the domain (an invite token verifies the address).
    let default = default_organization(&app).await;
    let mut ids = Vec::new();
    for email in ["bob@acme.test", "carol@acme.test"] {
        ok(&app.gql(ORG_INVITE, json!({"o": default, "e": email}), Some(&root)).await);
        let token = invite_token(&app, email).await;
        let body = app
            .gql(
                "mutation($e: String!, $t: String) { createUser(email: $e, password: \"correct horse battery\", inviteToken: $t) { user { id } } }",
                json!({"e": email, "t": token}),
                None,
            )
            .await;
        let id = ok(&body)["createUser"]["user"]["id"].as_str().unwrap().to_owned();
        assert_eq!(role_in(&app, &acme, &id).await, "ORGANIZATION_MEMBER", "joined by domain");
        ids.push(id);
    }
    // Bob is removed by an owner; Carol by the organization's SCIM client.
    ok(&app.gql(ORG_REMOVE, json!({"o": acme, "u": ids[0]}), Some(&root)).await);
    let created = app
        .gql(
            "mutation($o: Uuid!) { createOrganizationServiceAccount(label: \"scim\", organizationUuid: $o, role: ORGANIZATION_OWNER) { apiKey } }",
            json!({"o": acme}),
            Some(&root),
        )
        .await;
    let key = ok(&created)["createOrganizationServiceAccount"]["apiKey"].as_str().unwrap().to_owned();
    let response =
        app.client.delete(format!("{}/scim/v2/Users/{}", app.base, ids[1])).bearer_auth(&key).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    // Their next password sign-in does not bring them back.
    for (email, id) in ["bob@acme.test", "carol@acme.test"].iter().zip(&ids) {
        let before = role_in(&app, &acme, id).await;
        assert_eq!(before, "");
        token_of(&app, email).await;
        assert_eq!(role_in(&app, &acme, id).await, "", "{email} stays removed");
    }
    // An explicit invite they accept brings Bob back, and the removal is forgotten.
    ok(&app.gql(ORG_INVITE, json!({"o": acme, "e": "bob@acme.test"}), Some(&root)).await);
    let token = invite_token(&app, "bob@acme.test").await;
    let bob = token_of(&app, "bob@acme.test").await;
    ok(&app.gql(ACCEPT, json!({"t": token}), Some(&bob)).await);
    assert_ne!(role_in(&app, &acme, &ids[0]).await, "");
    assert_eq!(
        app.count(&format!("SELECT count(*) AS n FROM organization_removals WHERE user_id = '{}'", ids[0])).await,
        0
    );
}

// ---- 8. Audit events are filed under the organization they concern ---------------------------------

#[tokio::test]
async fn a_sign_up_through_an_invite_is_filed_under_the_inviting_organization() {
    let app = public_app().await;
    let root = app.with_owners().await;
    let owner = token_of(&app, "owner2@example.com").await;
    let default = default_organization(&app).await;
    let acme = create_organization(&app, &root, "Acme").await;
    ok(&app.gql(ORG_INVITE, json!({"o": acme, "e": "newbie@example.com"}), Some(&root)).await);
    let token = invite_token(&app, "newbie@example.com").await;
    let body = app
        .gql(
            "mutation($t: String) { createUser(email: \"newbie@example.com\", password: \"correct horse battery\", inviteToken: $t, profile: {fullName: \"Nora Newbie\", phone: \"+1 555 0100\"}) { user { id } } }",
            json!({"t": token}),
            None,
        )
        .await;
    let newbie = ok(&body)["createUser"]["user"]["id"].as_str().unwrap().to_owned();
    assert_eq!(role_in(&app, &default, &newbie).await, "", "the invite placed them in Acme only");

    // The default organization's owner reads nothing of them.
    const EVENTS: &str = "query($o: Uuid!) { auditEvents(filter: {organizationUuid: $o}, first: 100) { edges { node { action organizationId targetId before after } } } }";
    let seen = app.gql(EVENTS, json!({"o": default}), Some(&owner)).await;
    let text = ok(&seen).to_string();
    for private in ["newbie@example.com", "Nora", "+1 555 0100", &newbie] {
        assert!(!text.contains(private), "{private} leaks into the default organization's events: {text}");
    }
    // Acme's log has the sign-up, without the private profile.
    let acme_events = app.gql(EVENTS, json!({"o": acme}), Some(&root)).await;
    let edges = ok(&acme_events)["auditEvents"]["edges"].as_array().unwrap().clone();
    let sign_up = edges.iter().find(|e| e["node"]["action"] == "user.create").expect("Acme's sign-up event");
    assert_eq!(sign_up["node"]["targetId"], newbie.as_str());
    assert!(!sign_up.to_string().contains("555"), "{sign_up}");
    // No event anywhere carries the profile.
    assert_eq!(app.count("SELECT count(*) AS n FROM audit_events WHERE after::text LIKE '%555 0100%'").await, 0);
}

#[tokio::test]
async fn deployment_role_events_are_filed_under_the_organization() {
    let app = public_app().await;
    let root = app.with_owners().await;
    app.sign_up("member@example.com", PASSWORD).await;
    let workspace = app.create_workspace(&root, "Data").await;
    ok(&app.add_to_workspace(&root, &workspace, "member@example.com", "WORKSPACE_VIEWER").await);
    let deployment = app.create_deployment(&root, &workspace, "etl").await["id"].as_str().unwrap().to_owned();
    ok(&app
        .gql(
            "mutation($d: Id!) { deploymentAddUserRole(email: \"member@example.com\", deploymentId: $d, role: DEPLOYMENT_EDITOR) { id } }",
            json!({"d": deployment}),
            Some(&root),
        )
        .await);
    let organization = default_organization(&app).await;
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM audit_events WHERE action = 'deployment.user.role' AND organization_id = '{organization}'"
        ))
        .await,
        1
    );
}

// ---- 9. Adding a person goes through an invite -------------------------------------------------------

#[tokio::test]
async fn inviting_an_existing_account_sends_an_invite_and_answers_as_for_anyone() {
    let app = public_app().await;
    let root = app.with_owners().await;
    let (existing, existing_id) = app.sign_up("existing@example.com", PASSWORD).await;
    let acme = create_organization(&app, &root, "Acme").await;

    let known = app.gql(ORG_INVITE, json!({"o": acme, "e": "existing@example.com"}), Some(&root)).await;
    let unknown = app.gql(ORG_INVITE, json!({"o": acme, "e": "nobody@example.com"}), Some(&root)).await;
    let shape = |body: &Value| {
        let mut answer = ok(body)["organizationInviteUser"].clone();
        answer["invite"]["email"] = json!("…");
        answer
    };
    assert_eq!(shape(&known), shape(&unknown), "the answer does not tell who has an account");
    assert!(ok(&known)["organizationInviteUser"]["role"].is_null());
    assert_eq!(role_in(&app, &acme, &existing_id).await, "", "not a member until they accept");

    // Accepting makes them a member (the second join of Acme: an owner by the founders' rule).
    let token = invite_token(&app, "existing@example.com").await;
    ok(&app.gql(ACCEPT, json!({"t": token}), Some(&existing)).await);
    assert_eq!(role_in(&app, &acme, &existing_id).await, "ORGANIZATION_OWNER");

    // Inviting a member again is CONFLICT and changes nothing.
    let before = snapshot(&app).await;
    let again = app.gql(ORG_INVITE, json!({"o": acme, "e": "existing@example.com"}), Some(&root)).await;
    assert_eq!(error_code(&again), "CONFLICT", "{again}");
    assert_eq!(snapshot(&app).await, before);
}

#[tokio::test]
async fn an_invite_grants_nothing_once_its_inviter_may_no_longer_grant_it() {
    let app = public_app().await;
    let root = app.with_owners().await;
    let (_, admin_id) = app.sign_up("admin@example.com", PASSWORD).await;
    let workspace = app.create_workspace(&root, "Data").await;
    ok(&app.add_to_workspace(&root, &workspace, "admin@example.com", "WORKSPACE_ADMIN").await);
    let admin = token_of(&app, "admin@example.com").await;
    let deployment = app.create_deployment(&root, &workspace, "etl").await["id"].as_str().unwrap().to_owned();
    // The workspace admin invites someone with deployment roles.
    const ADD: &str = "mutation($w: Uuid!, $e: String!, $d: Uuid!) { workspaceAddUser(workspaceUuid: $w, email: $e, role: WORKSPACE_ADMIN, deploymentRoles: [{deploymentId: $d, role: DEPLOYMENT_ADMIN}]) { id } }";
    ok(&app.gql(ADD, json!({"w": workspace, "e": "guest@example.com", "d": deployment}), Some(&admin)).await);
    // A deployment of another workspace is NOT_FOUND.
    let other = app.create_workspace(&root, "Other").await;
    let foreign = app.create_deployment(&root, &other, "elsewhere").await["id"].as_str().unwrap().to_owned();
    let before = snapshot(&app).await;
    let refused = app.gql(ADD, json!({"w": workspace, "e": "guest2@example.com", "d": foreign}), Some(&admin)).await;
    assert_eq!(error_code(&refused), "NOT_FOUND", "{refused}");
    assert_eq!(snapshot(&app).await, before);

    // The inviter is demoted before the guest accepts.
    ok(&app
        .gql(
            "mutation($w: Uuid!) { workspaceUpdateUserRole(workspaceUuid: $w, email: \"admin@example.com\", role: WORKSPACE_VIEWER) }",
            json!({"w": workspace}),
            Some(&root),
        )
        .await);
    let (guest, guest_id) = app.sign_up("guest@example.com", PASSWORD).await;
    let token = invite_token(&app, "guest@example.com").await;
    let before = snapshot(&app).await;
    let accepted = app.gql(ACCEPT, json!({"t": token}), Some(&guest)).await;
    assert_eq!(error_code(&accepted), "FORBIDDEN", "{accepted}");
    assert_eq!(snapshot(&app).await, before, "nothing changed");
    assert_eq!(
        app.count(&format!("SELECT count(*) AS n FROM role_bindings WHERE user_id = '{guest_id}' AND workspace_id IS NOT NULL OR user_id = '{guest_id}' AND deployment_id IS NOT NULL")).await,
        0
    );
    let _ = admin_id;
}

// ---- 10. Keep-one invariants under concurrent removals ------------------------------------------------

async fn workspace_admins(app: &TestApp, workspace: &str) -> i64 {
    app.count(&format!(
        "SELECT count(*) AS n FROM role_bindings b JOIN users u ON u.id = b.user_id WHERE b.workspace_id = '{workspace}' AND b.role = 'WORKSPACE_ADMIN' AND u.status = 'active'"
    ))
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn removing_one_admin_while_demoting_the_other_leaves_an_admin() {
    let app = public_app().await;
    let root = app.with_owners().await;
    let organization = default_organization(&app).await;
    let mut people = Vec::new();
    for n in 0..10 {
        let email = format!("p{n}@example.com");
        let (_, id) = app.sign_up(&email, PASSWORD).await;
        people.push((email, id));
    }
    const DEMOTE: &str = "mutation($w: Uuid!, $e: String!) { workspaceUpdateUserRole(workspaceUuid: $w, email: $e, role: WORKSPACE_VIEWER) }";
    for (round, pair) in people.chunks(2).enumerate() {
        let (a, b) = (&pair[0], &pair[1]);
        let workspace = app.create_workspace(&root, &format!("W{round}")).await;
        for (email, _) in [a, b] {
            ok(&app.add_to_workspace(&root, &workspace, email, "WORKSPACE_ADMIN").await);
        }
        let root_id = app.text("SELECT user_id::text AS t FROM role_bindings WHERE role = 'SYSTEM_ADMIN'").await;
        ok(&app
            .gql(
                "mutation($w: Uuid!, $u: Uuid!) { workspaceRemoveUser(workspaceUuid: $w, userUuid: $u) { id } }",
                json!({"w": workspace, "u": root_id}),
                Some(&root),
            )
            .await);
        assert_eq!(workspace_admins(&app, &workspace).await, 2);
        let (removed, demoted) = tokio::join!(
            app.gql(ORG_REMOVE, json!({"o": organization, "u": a.1}), Some(&root)),
            app.gql(DEMOTE, json!({"w": workspace, "e": b.0}), Some(&root)),
        );
        let won = [&removed, &demoted].iter().filter(|body| body.get("errors").is_none()).count();
        assert_eq!(won, 1, "round {round}: exactly one wins: {removed} / {demoted}");
        for lost in [&removed, &demoted].iter().filter(|body| body.get("errors").is_some()) {
            assert_eq!(error_code(lost), "CONFLICT", "{lost}");
        }
        assert_eq!(workspace_admins(&app, &workspace).await, 1, "round {round}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_system_admins_revoking_each_other_at_once_leave_one() {
    for round in 0..3 {
        let app = public_app().await;
        let (root, root_id) = app.sign_up("root@example.com", PASSWORD).await;
        let (_, other_id) = app.sign_up("other@example.com", PASSWORD).await;
        ok(&app.grant_system_role(&root, &other_id, "SYSTEM_ADMIN").await);
        let other = token_of(&app, "other@example.com").await;
        const REVOKE: &str = "mutation($u: Uuid!) { deleteSystemRoleBinding(userId: $u, role: SYSTEM_ADMIN) { role } }";
        const REMOVE: &str = "mutation($u: Uuid!) { removeUser(userUuid: $u) { id } }";
        // A revocation against a deletion of the account: either way one admin stays.
        let (first, second) = if round % 2 == 0 {
            tokio::join!(
                app.gql(REVOKE, json!({"u": other_id}), Some(&root)),
                app.gql(REVOKE, json!({"u": root_id}), Some(&other)),
            )
        } else {
            tokio::join!(
                app.gql(REMOVE, json!({"u": other_id}), Some(&root)),
                app.gql(REVOKE, json!({"u": root_id}), Some(&other)),
            )
        };
        let won = [&first, &second].iter().filter(|body| body.get("errors").is_none()).count();
        assert_eq!(won, 1, "round {round}: {first} / {second}");
        let admins = app
            .count(
                "SELECT count(*) AS n FROM role_bindings b JOIN users u ON u.id = b.user_id WHERE b.role = 'SYSTEM_ADMIN' AND u.status = 'active'",
            )
            .await;
        assert_eq!(admins, 1, "round {round}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_owner_removed_while_the_other_is_demoted_leaves_an_owner() {
    for round in 0..3 {
        let app = public_app().await;
        let (_, a) = app.sign_up("a@example.com", PASSWORD).await;
        let (_, b) = app.sign_up("b@example.com", PASSWORD).await;
        let organization = default_organization(&app).await;
        let (ta, tb) = (token_of(&app, "a@example.com").await, token_of(&app, "b@example.com").await);
        let (removed, demoted) = tokio::join!(
            app.gql(ORG_REMOVE, json!({"o": organization, "u": b}), Some(&ta)),
            app.gql(
                "mutation($o: Uuid!, $u: Uuid!) { organizationUpdateUserRole(organizationUuid: $o, userUuid: $u, role: ORGANIZATION_MEMBER) }",
                json!({"o": organization, "u": a}),
                Some(&tb),
            ),
        );
        let won = [&removed, &demoted].iter().filter(|body| body.get("errors").is_none()).count();
        assert_eq!(won, 1, "round {round}: {removed} / {demoted}");
        assert_eq!(
            app.count(&format!(
                "SELECT count(*) AS n FROM role_bindings WHERE organization_id = '{organization}' AND role = 'ORGANIZATION_OWNER'"
            ))
            .await,
            1,
            "round {round}"
        );
    }
}

/// SPEC §2 rule 6 and §7: a user named next to a team must be in the team's organization, else
/// NOT_FOUND; a user of another organization gets the same answer as an id that names nobody.
#[tokio::test]
async fn adding_someone_from_another_organization_to_a_team_is_answered_as_nobody() {
    let app = public_app().await;
    let root = app.with_owners().await;
    let outsider_id = app.text("SELECT user_id::text AS t FROM emails WHERE address = 'owner2@example.com'").await;
    let acme = create_organization(&app, &root, "Acme").await;
    let team = create_team(&app, &root, &acme, "Acme team").await;
    let before = snapshot(&app).await;
    let random = app.gql(TEAM_ADD, json!({"t": team, "u": uuid::Uuid::new_v4().to_string()}), Some(&root)).await;
    let other = app.gql(TEAM_ADD, json!({"t": team, "u": outsider_id}), Some(&root)).await;
    assert_eq!(error_code(&random), "NOT_FOUND", "{random}");
    assert_eq!(error_code(&other), "NOT_FOUND", "{other}");
    assert_eq!(other["errors"][0]["message"], random["errors"][0]["message"]);
    assert_eq!(snapshot(&app).await, before, "nothing changed");
}

/// Accepting is atomic (SPEC §4.4): a sign-up with the token of an invite whose inviter may no longer
/// grant it is FORBIDDEN and creates nothing, no account and no membership of the default organization;
/// once the inviter may grant it again, the same token signs up and applies the invite.
#[tokio::test]
async fn a_demoted_inviters_token_opens_no_account() {
    let app = public_app().await;
    let root = app.with_owners().await;
    app.sign_up("admin@example.com", PASSWORD).await;
    let workspace = app.create_workspace(&root, "Data").await;
    ok(&app.add_to_workspace(&root, &workspace, "admin@example.com", "WORKSPACE_ADMIN").await);
    let admin = token_of(&app, "admin@example.com").await;
    ok(&app.add_to_workspace(&admin, &workspace, "guest@example.com", "WORKSPACE_EDITOR").await);
    let token = invite_token(&app, "guest@example.com").await;
    const SET_ROLE: &str = "mutation($w: Uuid!, $r: Role!) { workspaceUpdateUserRole(workspaceUuid: $w, email: \"admin@example.com\", role: $r) }";
    ok(&app.gql(SET_ROLE, json!({"w": workspace, "r": "WORKSPACE_VIEWER"}), Some(&root)).await);

    const SIGN_UP: &str = "mutation($t: String!) { createUser(email: \"guest@example.com\", password: \"correct horse battery\", inviteToken: $t) { user { id } } }";
    let before = snapshot(&app).await;
    let refused = app.gql(SIGN_UP, json!({"t": token}), None).await;
    assert_eq!(error_code(&refused), "FORBIDDEN", "{refused}");
    assert_eq!(refused["errors"][0]["message"], "Access is Denied", "{refused}");
    assert_eq!(snapshot(&app).await, before, "nothing changed");
    assert_eq!(app.count("SELECT count(*) AS n FROM emails WHERE address = 'guest@example.com'").await, 0);
    assert_eq!(app.count("SELECT count(*) AS n FROM invites WHERE email = 'guest@example.com'").await, 1);

    // The inviter may grant it again: the token signs up and the invite applies.
    ok(&app.gql(SET_ROLE, json!({"w": workspace, "r": "WORKSPACE_ADMIN"}), Some(&root)).await);
    let signed_up = app.gql(SIGN_UP, json!({"t": token}), None).await;
    let guest = ok(&signed_up)["createUser"]["user"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.text(&format!(
            "SELECT role AS t FROM role_bindings WHERE user_id = '{guest}' AND workspace_id = '{workspace}'"
        ))
        .await,
        "WORKSPACE_EDITOR"
    );
}
