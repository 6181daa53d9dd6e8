//! The attack sequences of issue 21, each as a short test of the SPEC rule it breaks (SPEC §2 grant rule,
//! tenancy and membership rules; §3.1 identity; §4.4 invites). Invite tokens come from the mail outbox.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::TestApp;
use crate::domains::claim_and_verify;
use crate::expectations::{PASSWORD, mailed_token, ok};

const SCIM_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const SCIM_PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

async fn spawn() -> (TestApp, String) {
    let app = TestApp::spawn_with(|config| config.public_signups = true).await;
    let root = app.with_owners().await;
    (app, root)
}

async fn organization(app: &TestApp, root: &str, name: &str) -> String {
    ok(app, root, "mutation($n: String!) { createOrganization(name: $n) { id } }", json!({"n": name})).await
        ["createOrganization"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn invite_to(app: &TestApp, token: &str, org: &str, email: &str) -> Value {
    app.gql(
        "mutation($o: Uuid!, $e: String!) { organizationInviteUser(organizationUuid: $o, email: $e) { role invite { id email } } }",
        json!({"o": org, "e": email}),
        Some(token),
    )
    .await
}

async fn sign_up_with(app: &TestApp, email: &str, invite: &str) -> Value {
    app.gql(
        "mutation($e: String!, $p: String!, $t: String) { createUser(email: $e, password: $p, inviteToken: $t) { user { id } token { value } } }",
        json!({"e": email, "p": PASSWORD, "t": invite}),
        None,
    )
    .await
}

/// The organization role of `email` in `org`, or "" when not a member.
async fn org_role(app: &TestApp, org: &str, email: &str) -> String {
    app.text(&format!(
        "SELECT coalesce((SELECT b.role FROM role_bindings b JOIN emails e ON e.user_id = b.user_id \
         WHERE b.scope = 'ORGANIZATION' AND b.organization_id = '{org}' AND e.address = '{email}' LIMIT 1), '') AS t"
    ))
    .await
}

async fn scim(app: &TestApp, key: &str, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = app.client.request(method, format!("{}/scim/v2{path}", app.base)).bearer_auth(key);
    if let Some(body) = body {
        request = request.header("content-type", "application/scim+json").body(body.to_string());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

async fn scim_key(app: &TestApp, root: &str, org: &str) -> String {
    ok(app, root, "mutation($o: Uuid!) { createOrganizationServiceAccount(label: \"scim\", organizationUuid: $o, role: ORGANIZATION_OWNER) { apiKey } }", json!({"o": org}))
        .await["createOrganizationServiceAccount"]["apiKey"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// 1. A billing admin configures sign-in (SPEC §2: organization.authentication.update is the owners'), and
/// no provider may name another provider's client secret (SPEC §3.1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_configuration_is_the_owners_and_a_provider_uses_only_its_own_secret() {
    let secrets = std::env::temp_dir().join(format!("capcom-sectests-{}", uuid::Uuid::new_v4().simple()));
    let dir = secrets.clone();
    let app = TestApp::spawn_with(move |config| {
        config.public_signups = true;
        config.oidc_secrets_dir = Some(dir);
    })
    .await;
    let root = app.with_owners().await;
    let org = app.text("SELECT id::text AS t FROM organizations WHERE is_default").await;
    std::fs::create_dir_all(secrets.join(&org)).unwrap();
    std::fs::write(secrets.join(&org).join("good"), "the good provider's secret\n").unwrap();
    let (billing, billing_id) = app.sign_up("billing@example.com", PASSWORD).await;
    ok(&app, &root, "mutation($o: Uuid!, $u: Uuid!) { organizationUpdateUserRole(organizationUuid: $o, userUuid: $u, role: ORGANIZATION_BILLING_ADMIN) }", json!({"o": org, "u": billing_id})).await;
    let create = "mutation($o: Uuid!, $i: IdentityProviderInput!) { createIdentityProvider(organizationUuid: $o, input: $i) { id } }";
    let good_file = secrets.join(&org).join("good").to_string_lossy().into_owned();
    let before = app.access_snapshot().await;
    let body = app
        .gql(
            create,
            json!({"o": org, "i": {"name": "mine", "issuerUrl": "https://evil.example.test", "clientId": "c"}}),
            Some(&billing),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "a billing admin configures sign-in: {body}");
    let body = app.gql("mutation($o: Uuid!) { claimOrganizationDomain(organizationUuid: $o, domain: \"evil.example.test\") { id } }", json!({"o": org}), Some(&billing)).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "a billing admin claims a domain: {body}");
    assert_eq!(app.access_snapshot().await, before);
    // The provider `good` uses its file; a provider `evil` cannot name it, even for an owner: no setting
    // chooses a secret, so the request naming one is refused before it runs.
    let with_source = "mutation($o: Uuid!, $i: IdentityProviderInput!) { createIdentityProvider(organizationUuid: $o, input: $i) { id clientSecretSource } }";
    let body = app
        .gql(
            with_source,
            json!({"o": org, "i": {"name": "good", "issuerUrl": "https://idp.example.test", "clientId": "c"}}),
            Some(&root),
        )
        .await;
    assert!(body.get("errors").is_none(), "the provider named after the file uses it: {body}");
    let source = body["data"]["createIdentityProvider"]["clientSecretSource"].as_str().unwrap_or_default().to_owned();
    assert!(source.contains("good"), "{body}");
    let count = app.count("SELECT count(*) AS n FROM identity_providers").await;
    let body = app
        .gql(create, json!({"o": org, "i": {"name": "evil", "issuerUrl": "https://evil.example.test", "clientId": "c", "clientSecretFile": good_file}}), Some(&root))
        .await;
    assert!(body.get("errors").is_some(), "a provider named `evil` names the secret of `good`: {body}");
    assert_eq!(app.count("SELECT count(*) AS n FROM identity_providers").await, count);
    let body = app
        .gql(
            with_source,
            json!({"o": org, "i": {"name": "evil", "issuerUrl": "https://evil.example.test", "clientId": "c"}}),
            Some(&root),
        )
        .await;
    let source = body["data"]["createIdentityProvider"]["clientSecretSource"].as_str().unwrap_or_default().to_owned();
    assert!(!source.contains("good"), "a provider named `evil` reads the secret of `good`: {body}");
    let _ = std::fs::remove_dir_all(&secrets);
}

/// 1b. Provider names are first come, first served across the installation, but a secret is keyed by
/// organization and name (SPEC §3.1): an owner of another organization who takes the name `acme` — before
/// Acme, or after Acme deleted its provider — never reaches the secret the operator stored for Acme.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_name_taken_in_another_organization_never_reaches_its_secret() {
    let secrets = tempfile::tempdir().unwrap();
    let dir = secrets.path().to_owned();
    let app = TestApp::spawn_with(move |config| {
        config.public_signups = true;
        config.org_self_service = true;
        config.oidc_secrets_dir = Some(dir);
    })
    .await;
    let root = app.with_owners().await;
    let acme = organization(&app, &root, "Acme").await;
    let (mallory, _) = app.sign_up("mallory@elsewhere.test", PASSWORD).await;
    let evil = organization(&app, &mallory, "Evil").await;
    let create = "mutation($o: Uuid!, $i: IdentityProviderInput!) { createIdentityProvider(organizationUuid: $o, input: $i) { id clientSecretSource clientSecretVariable clientSecretPath } }";
    let input = |issuer: &str| json!({"name": "acme", "issuerUrl": issuer, "clientId": "c"});
    // Acme's provider and the secret the operator stored for it, where capcom says to.
    let body = ok(&app, &root, create, json!({"o": acme, "i": input("https://sso.acme.test")})).await;
    let provider = &body["createIdentityProvider"];
    let acme_hex = acme.replace('-', "").to_uppercase();
    assert_eq!(provider["clientSecretVariable"], format!("CAPCOM_OIDC_SECRET_{acme_hex}_ACME"), "{body}");
    assert_eq!(provider["clientSecretPath"], format!("{acme}/acme"), "{body}");
    assert_eq!(provider["clientSecretSource"], "none", "{body}");
    std::fs::create_dir_all(secrets.path().join(&acme)).unwrap();
    std::fs::write(secrets.path().join(&acme).join("acme"), "acme's secret\n").unwrap();
    let listed = ok(
        &app,
        &root,
        "query($o: Uuid!) { identityProviders(organizationUuid: $o) { clientSecretSource } }",
        json!({"o": acme}),
    )
    .await;
    assert_eq!(listed["identityProviders"][0]["clientSecretSource"], format!("file:{acme}/acme"), "{listed}");
    // While Acme holds the name, Evil cannot take it.
    let taken = app.gql(create, json!({"o": evil, "i": input("https://evil.test")}), Some(&mallory)).await;
    assert_eq!(taken["errors"][0]["extensions"]["code"], "CONFLICT", "{taken}");
    // Acme deletes its provider; Evil takes the name at once and finds no secret: it is Acme's.
    let id = provider["id"].as_str().unwrap().to_owned();
    ok(
        &app,
        &root,
        "mutation($o: Uuid!, $p: Uuid!) { deleteIdentityProvider(organizationUuid: $o, providerUuid: $p) { id } }",
        json!({"o": acme, "p": id}),
    )
    .await;
    let body = ok(&app, &mallory, create, json!({"o": evil, "i": input("https://evil.test")})).await;
    let squatter = &body["createIdentityProvider"];
    assert_eq!(squatter["clientSecretSource"], "none", "Evil's `acme` reads Acme's secret: {body}");
    assert_ne!(squatter["clientSecretVariable"], provider["clientSecretVariable"], "{body}");
    assert_ne!(squatter["clientSecretPath"], provider["clientSecretPath"], "{body}");
    // The sign-in through Evil's `acme` would send no secret: it starts as a public client or not at all,
    // and never with Acme's secret (read at sign-in by the same key, `read_secret`).
    assert!(!body.to_string().contains("acme's secret"));
}

/// 2. An invite's token reaches nobody but the address's owner (SPEC §4.4): not the inviter, not any
/// list; only the mail carries it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invite_token_is_never_returned_by_the_api() {
    let (app, root) = spawn().await;
    let owner = app.sign_in("owner2@example.com", PASSWORD).await["data"]["createToken"]["token"]["value"]
        .as_str()
        .unwrap()
        .to_owned();
    let b = organization(&app, &root, "Tenant B").await;
    let a = app.text("SELECT id::text AS t FROM organizations WHERE is_default").await;
    let w = app.create_workspace(&owner, "W").await;
    // No field can even ask for a token: the schema has none on invites.
    let asked = app
        .gql("mutation($o: Uuid!) { organizationInviteUser(organizationUuid: $o, email: \"x@elsewhere.test\") { invite { token } } }", json!({"o": a}), Some(&owner))
        .await;
    assert!(asked["errors"][0]["message"].as_str().is_some_and(|m| m.contains("token")), "{asked}");
    let mut answers = Vec::new();
    answers.push(invite_to(&app, &owner, &a, "stranger@elsewhere.test").await);
    answers.push(invite_to(&app, &root, &b, "someone-of-b@elsewhere.test").await);
    answers.push(
        app.gql(
            "mutation($w: Uuid!) { workspaceAddUser(workspaceUuid: $w, email: \"ws@elsewhere.test\") { id } }",
            json!({"w": w}),
            Some(&owner),
        )
        .await,
    );
    answers.push(
        app.gql("mutation { inviteUser(email: \"sys@elsewhere.test\") { id email } }", json!({}), Some(&root)).await,
    );
    answers.push(app.gql("{ invites { id email } }", json!({}), Some(&root)).await);
    answers.push(
        app.gql("query($w: Uuid!) { workspaceInvites(workspaceUuid: $w) { id email } }", json!({"w": w}), Some(&root))
            .await,
    );
    answers.push(app.gql("{ auditEvents { edges { node { before after } } } }", json!({}), Some(&root)).await);
    let text = answers.iter().map(Value::to_string).collect::<Vec<_>>().join("\n");
    for email in ["stranger@elsewhere.test", "someone-of-b@elsewhere.test", "ws@elsewhere.test", "sys@elsewhere.test"] {
        let token = mailed_token(&app, email).await;
        assert!(!text.contains(&token), "a token mailed to {email} came back: {text}");
    }
}

/// 3. An owner joins a team a system admin gave SYSTEM_ADMIN (SPEC §2: joining a team grants its roles).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_cannot_join_a_team_holding_system_admin() {
    let (app, root) = spawn().await;
    let signed = app.sign_in("owner2@example.com", PASSWORD).await;
    let owner = signed["data"]["createToken"]["token"]["value"].as_str().unwrap().to_owned();
    let owner_id = signed["data"]["createToken"]["user"]["id"].as_str().unwrap().to_owned();
    let team =
        ok(&app, &root, "mutation { createTeam(name: \"Platform\") { id } }", json!({})).await["createTeam"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
    ok(
        &app,
        &root,
        "mutation($t: Uuid!) { createTeamSystemRoleBinding(teamUuid: $t, role: SYSTEM_ADMIN) { role } }",
        json!({"t": team}),
    )
    .await;
    let before = app.access_snapshot().await;
    let body = app
        .gql(
            "mutation($t: Uuid!, $u: Uuid!) { teamAddUser(teamUuid: $t, userUuid: $u) { id } }",
            json!({"t": team, "u": owner_id}),
            Some(&owner),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "an owner joined the SYSTEM_ADMIN team: {body}");
    assert_eq!(app.access_snapshot().await, before);
    let can = app.gql("{ can(permission: \"system.user.delete\") }", json!({}), Some(&owner)).await;
    assert_eq!(can["data"]["can"], false, "{can}");
}

/// 4. SCIM adopting an account a stranger registered first takes the stranger's password away (SPEC §3.1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scim_adoption_takes_a_pre_registered_strangers_password_away() {
    let (app, root) = spawn().await;
    let acme = organization(&app, &root, "Acme").await;
    let (stranger, _) = app.sign_up("alice@acme.test", "stranger's password").await;
    claim_and_verify(&app, &root, &acme, "acme.test").await;
    let key = scim_key(&app, &root, &acme).await;
    let (status, created) = scim(
        &app,
        &key,
        Method::POST,
        "/Users",
        Some(json!({
            "schemas": [SCIM_USER], "userName": "alice@acme.test", "externalId": "00u-alice",
            "emails": [{"value": "alice@acme.test", "primary": true}], "active": true,
        })),
    )
    .await;
    assert!((200..300).contains(&status), "SCIM create: {status} {created}");
    let login = app.sign_in("alice@acme.test", "stranger's password").await;
    assert!(login.get("errors").is_some(), "the stranger still signs in with their password: {login}");
    let old = app.gql("{ self { id } }", json!({}), Some(&stranger)).await;
    assert!(old.get("errors").is_some(), "the stranger's token still works: {old}");
}

/// 5. The founders' rule counts joins, not members (SPEC §2 membership rules).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_founders_rule_counts_joins_not_members() {
    let (app, root) = spawn().await;
    let acme = organization(&app, &root, "Acme").await;
    for email in ["p2@acme.test", "p3@acme.test"] {
        assert!(invite_to(&app, &root, &acme, email).await.get("errors").is_none());
        let body = sign_up_with(&app, email, &mailed_token(&app, email).await).await;
        assert!(body.get("errors").is_none(), "{body}");
        assert_eq!(org_role(&app, &acme, email).await, "ORGANIZATION_OWNER", "{email} is a founder");
    }
    let p2 = app.text("SELECT user_id::text AS t FROM emails WHERE address = 'p2@acme.test'").await;
    ok(
        &app,
        &root,
        "mutation($o: Uuid!, $u: Uuid!) { organizationRemoveUser(organizationUuid: $o, userUuid: $u) }",
        json!({"o": acme, "u": p2}),
    )
    .await;
    assert!(invite_to(&app, &root, &acme, "p4@acme.test").await.get("errors").is_none());
    let body = sign_up_with(&app, "p4@acme.test", &mailed_token(&app, "p4@acme.test").await).await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(org_role(&app, &acme, "p4@acme.test").await, "ORGANIZATION_MEMBER", "the fourth joiner is no founder");
}

/// 6. SCIM never acts on an account holding a system role, so it cannot deactivate the last system admin
/// (SPEC §3.1, and the ≥ 1 admin invariant).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scim_cannot_deactivate_a_system_admin() {
    let app = TestApp::spawn_with(|config| config.public_signups = true).await;
    let (root, root_id) = app.sign_up("boss@acme.test", PASSWORD).await;
    let acme = organization(&app, &root, "Acme").await;
    claim_and_verify(&app, &root, &acme, "acme.test").await;
    let key = scim_key(&app, &root, &acme).await;
    let before = app.access_snapshot().await;
    let (status, body) = scim(&app, &key, Method::POST, "/Users", Some(json!({
        "schemas": [SCIM_USER], "userName": "boss@acme.test", "emails": [{"value": "boss@acme.test", "primary": true}], "active": true,
    }))).await;
    let scim_id = body["id"].as_str().map(str::to_owned).unwrap_or_else(|| root_id.clone());
    assert!(!(200..300).contains(&status), "SCIM adopted the system admin: {status} {body}");
    for id in [scim_id.as_str(), root_id.as_str()] {
        let (status, body) = scim(
            &app,
            &key,
            Method::PATCH,
            &format!("/Users/{id}"),
            Some(json!({
                "schemas": [SCIM_PATCH], "Operations": [{"op": "replace", "value": {"active": false}}],
            })),
        )
        .await;
        assert!(!(200..300).contains(&status), "SCIM deactivated the system admin: {status} {body}");
        let (status, body) = scim(&app, &key, Method::DELETE, &format!("/Users/{id}"), None).await;
        assert!(!(200..300).contains(&status), "SCIM deleted the system admin: {status} {body}");
    }
    assert_eq!(app.text(&format!("SELECT status AS t FROM users WHERE id = '{root_id}'")).await, "active");
    let after = app.gql("{ self { id } }", json!({}), Some(&root)).await;
    assert!(after.get("errors").is_none(), "{after}");
    let _ = before;
}

/// 7. Removals stick: a domain join does not bring a removed person back (SPEC §2 membership rules).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_person_is_not_brought_back_by_a_domain_join() {
    let (app, root) = spawn().await;
    let acme = organization(&app, &root, "Acme").await;
    claim_and_verify(&app, &root, &acme, "acme.test").await;
    assert!(invite_to(&app, &root, &acme, "bob@acme.test").await.get("errors").is_none());
    let body = sign_up_with(&app, "bob@acme.test", &mailed_token(&app, "bob@acme.test").await).await;
    let bob = body["data"]["createUser"]["user"]["id"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned();
    assert_ne!(org_role(&app, &acme, "bob@acme.test").await, "");
    ok(
        &app,
        &root,
        "mutation($o: Uuid!, $u: Uuid!) { organizationRemoveUser(organizationUuid: $o, userUuid: $u) }",
        json!({"o": acme, "u": bob}),
    )
    .await;
    assert_eq!(org_role(&app, &acme, "bob@acme.test").await, "");
    let login = app.sign_in("bob@acme.test", PASSWORD).await;
    assert!(login.get("errors").is_none(), "{login}");
    assert_eq!(org_role(&app, &acme, "bob@acme.test").await, "", "the domain join brought bob back");
}

/// 8. A sign-up through an invite to organization B is B's audit event (SPEC §2 tenancy).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_up_through_an_invite_to_b_is_filed_under_b() {
    let (app, root) = spawn().await;
    let b = organization(&app, &root, "Tenant B").await;
    let default = app.text("SELECT id::text AS t FROM organizations WHERE is_default").await;
    assert!(invite_to(&app, &root, &b, "carol@b.test").await.get("errors").is_none());
    let body = sign_up_with(&app, "carol@b.test", &mailed_token(&app, "carol@b.test").await).await;
    let carol = body["data"]["createUser"]["user"]["id"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned();
    let filed = app
        .text(&format!(
            "SELECT coalesce(string_agg(action || '@' || coalesce(organization_id::text, 'none'), ', '), '') AS t FROM audit_events \
             WHERE actor_user_id = '{carol}' OR target_id = '{carol}'"
        ))
        .await;
    assert!(!filed.is_empty(), "the sign-up wrote no audit event");
    assert!(!filed.contains(&default), "carol's sign-up is filed under the default organization: {filed}");
    assert!(filed.contains(&b), "carol's sign-up is not filed under B: {filed}");
}

/// 9. Adding a person who is not yet a member always goes through an invite they accept, and the answer
/// does not tell whether the address has an account (SPEC §2 membership rules).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inviting_an_existing_account_does_not_add_it_at_once() {
    let (app, root) = spawn().await;
    let acme = organization(&app, &root, "Acme").await;
    app.sign_up("dave@example.com", PASSWORD).await;
    let shape = |body: &Value| {
        let answer = &body["data"]["organizationInviteUser"];
        (body.get("errors").is_some(), answer["role"].is_null(), answer["invite"].is_null())
    };
    let existing = invite_to(&app, &root, &acme, "dave@example.com").await;
    let unknown = invite_to(&app, &root, &acme, "nobody@example.com").await;
    assert_eq!(shape(&existing), shape(&unknown), "the answer tells who is registered: {existing} vs {unknown}");
    assert_eq!(org_role(&app, &acme, "dave@example.com").await, "", "dave was added without accepting");
}

/// 10. Concurrent removal and demotion cannot leave a workspace without a WORKSPACE_ADMIN user (SPEC §2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_removal_and_demotion_keep_a_workspace_admin() {
    let (app, root) = spawn().await;
    let (a1, a1_id) = app.sign_up("a1@example.com", PASSWORD).await;
    let (a2, a2_id) = app.sign_up("a2@example.com", PASSWORD).await;
    let _ = root;
    for round in 0..8 {
        let w = app.create_workspace(&a1, &format!("race {round}")).await;
        assert!(app.add_to_workspace(&a1, &w, "a2@example.com", "WORKSPACE_ADMIN").await.get("errors").is_none());
        let demote = app.gql(
            "mutation($w: Uuid!) { workspaceUpdateUserRole(workspaceUuid: $w, email: \"a2@example.com\", role: WORKSPACE_VIEWER) }",
            json!({"w": w}),
            Some(&a1),
        );
        let remove = app.gql(
            "mutation($w: Uuid!, $u: Uuid!) { workspaceRemoveUser(workspaceUuid: $w, userUuid: $u) { id } }",
            json!({"w": w, "u": a1_id}),
            Some(&a2),
        );
        let _ = tokio::join!(demote, remove);
        let admins = app
            .count(&format!(
                "SELECT count(*) AS n FROM role_bindings WHERE workspace_id = '{w}' AND scope = 'WORKSPACE' AND role = 'WORKSPACE_ADMIN' AND user_id IS NOT NULL"
            ))
            .await;
        assert!(admins >= 1, "round {round}: workspace left without an admin ({a1_id}, {a2_id})");
    }
}

/// Brings the existing account `token` (address `email`) into `org` through an invite from `inviter`,
/// accepted by the account; returns its id.
async fn join_by_invite(app: &TestApp, inviter: &str, org: &str, email: &str, token: &str) -> String {
    assert!(invite_to(app, inviter, org, email).await.get("errors").is_none());
    let accepted = app
        .gql(
            "mutation($t: String!) { acceptInvite(token: $t) { id } }",
            json!({"t": mailed_token(app, email).await}),
            Some(token),
        )
        .await;
    assert!(accepted.get("errors").is_none(), "{accepted}");
    app.text(&format!("SELECT user_id::text AS t FROM emails WHERE address = '{email}'")).await
}

async fn team_members(app: &TestApp, team: &str) -> String {
    app.text(&format!(
        "SELECT coalesce(string_agg(e.address, ',' ORDER BY e.address), '') AS t FROM team_members m \
         JOIN emails e ON e.user_id = m.user_id WHERE m.team_id = '{team}'"
    ))
    .await
}

/// 11. An organization's SCIM client changes the teams only of accounts within its reach (SPEC §3.1: of
/// its verified domains, holding no system role): a group PATCH cannot put an out-of-domain account in a
/// team holding ORGANIZATION_OWNER, nor add or remove a system-role account in a plain team; a replaced
/// member list leaves such accounts where they are. Accounts within reach are added as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scim_groups_never_change_the_teams_of_accounts_out_of_reach() {
    let (app, root) = spawn().await;
    let acme = organization(&app, &root, "Acme").await;
    let (eve, _) = app.sign_up("eve@elsewhere.test", PASSWORD).await;
    let eve_id = join_by_invite(&app, &root, &acme, "eve@elsewhere.test", &eve).await;
    let (sys, _) = app.sign_up("sys@acme.test", PASSWORD).await;
    let sys_id = join_by_invite(&app, &root, &acme, "sys@acme.test", &sys).await;
    assert!(app.grant_system_role(&root, &sys_id, "SYSTEM_VIEWER").await.get("errors").is_none());
    let (bob, _) = app.sign_up("bob@acme.test", PASSWORD).await;
    let bob_id = join_by_invite(&app, &root, &acme, "bob@acme.test", &bob).await;
    claim_and_verify(&app, &root, &acme, "acme.test").await;
    let team = |name: &'static str| {
        let (app, root, acme) = (&app, root.clone(), acme.clone());
        async move {
            ok(
                app,
                &root,
                "mutation($o: Uuid!, $n: String!) { createTeam(organizationUuid: $o, name: $n) { id } }",
                json!({"o": acme, "n": name}),
            )
            .await["createTeam"]["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let owners = team("Owners").await;
    ok(&app, &root, "mutation($o: Uuid!, $t: Uuid!) { organizationUpdateTeamRole(organizationUuid: $o, teamUuid: $t, role: ORGANIZATION_OWNER) { role } }", json!({"o": acme, "t": owners})).await;
    let plain = team("Plain").await;
    ok(
        &app,
        &root,
        "mutation($t: Uuid!, $u: Uuid!) { teamAddUser(teamUuid: $t, userUuid: $u) { id } }",
        json!({"t": plain, "u": sys_id}),
    )
    .await;
    let key = scim_key(&app, &root, &acme).await;
    let add = |id: &str| json!({"schemas": [SCIM_PATCH], "Operations": [{"op": "add", "path": "members", "value": [{"value": id}]}]});
    let before = app.access_snapshot().await;
    for (group, member, what) in [
        (&owners, &eve_id, "an out-of-domain account into the owners' team"),
        (&plain, &eve_id, "an out-of-domain account into a plain team"),
        (&owners, &sys_id, "a system-role account into the owners' team"),
    ] {
        let (status, body) = scim(&app, &key, Method::PATCH, &format!("/Groups/{group}"), Some(add(member))).await;
        assert_eq!(status, 403, "SCIM added {what}: {body}");
    }
    let remove = json!({"schemas": [SCIM_PATCH], "Operations": [{"op": "remove", "path": format!("members[value eq \"{sys_id}\"]")}]});
    let (status, body) = scim(&app, &key, Method::PATCH, &format!("/Groups/{plain}"), Some(remove)).await;
    assert_eq!(status, 403, "SCIM removed a system-role account from a team: {body}");
    assert_eq!(app.access_snapshot().await, before, "a refused group change changed something");
    // A replaced member list acts on accounts within reach and leaves the system-role account in place.
    let replace = json!({"schemas": [SCIM_PATCH], "Operations": [{"op": "replace", "path": "members", "value": [{"value": bob_id}]}]});
    let (status, body) = scim(&app, &key, Method::PATCH, &format!("/Groups/{plain}"), Some(replace)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(team_members(&app, &plain).await, "bob@acme.test,sys@acme.test");
    let (status, body) = scim(&app, &key, Method::PATCH, &format!("/Groups/{owners}"), Some(add(&bob_id))).await;
    assert_eq!(status, 200, "an in-domain member joins through SCIM: {body}");
    assert_eq!(team_members(&app, &owners).await, "bob@acme.test");
    let _ = (bob, sys);
}

/// 12. Adoption stays inside the adopting tenant (SPEC §3.1, tenancy): SCIM of Acme taking over an
/// account a stranger registered first deactivates the keys that account created in Acme, and leaves the
/// keys it created in another organization to that organization; no audit event of that organization
/// tells of Acme's adoption.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adoption_deactivates_keys_only_in_the_adopting_organization() {
    let app = TestApp::spawn_with(|config| {
        config.public_signups = true;
        config.org_self_service = true;
    })
    .await;
    let root = app.with_owners().await;
    let acme = organization(&app, &root, "Acme").await;
    let (stranger, _) = app.sign_up("alice@acme.test", PASSWORD).await;
    join_by_invite(&app, &root, &acme, "alice@acme.test", &stranger).await;
    let other = organization(&app, &stranger, "Other").await;
    let key_in = |org: &str| {
        let (app, stranger, org) = (&app, stranger.clone(), org.to_owned());
        async move {
            ok(app, &stranger, "mutation($o: Uuid!) { createOrganizationServiceAccount(label: \"ci\", organizationUuid: $o, role: ORGANIZATION_MEMBER) { id apiKey } }", json!({"o": org}))
                .await["createOrganizationServiceAccount"]
                .clone()
        }
    };
    let acme_key = key_in(&acme).await;
    let other_key = key_in(&other).await;
    claim_and_verify(&app, &root, &acme, "acme.test").await;
    let scim_key = scim_key(&app, &root, &acme).await;
    let other_events =
        app.count(&format!("SELECT count(*) AS n FROM audit_events WHERE organization_id = '{other}'")).await;
    let (status, created) = scim(
        &app,
        &scim_key,
        Method::POST,
        "/Users",
        Some(json!({"schemas": [SCIM_USER], "userName": "alice@acme.test", "emails": [{"value": "alice@acme.test", "primary": true}], "active": true})),
    )
    .await;
    assert!((200..300).contains(&status), "SCIM create: {status} {created}");
    let active =
        |id: &Value| format!("SELECT active::text AS t FROM service_accounts WHERE id = '{}'", id.as_str().unwrap());
    assert_eq!(app.text(&active(&acme_key["id"])).await, "false", "the stranger's key in Acme survived the adoption");
    assert_eq!(
        app.text(&active(&other_key["id"])).await,
        "true",
        "Acme's adoption deactivated a key of another organization"
    );
    let works = app.gql("{ organizations { id } }", json!({}), other_key["apiKey"].as_str()).await;
    assert_eq!(
        works["data"]["organizations"][0]["id"],
        other.as_str(),
        "the other organization's key still works: {works}"
    );
    assert_eq!(
        app.count(&format!("SELECT count(*) AS n FROM audit_events WHERE organization_id = '{other}'")).await,
        other_events,
        "Acme's adoption was filed under another organization"
    );
}

/// 13. Races between an organization's SCIM client and its owners, and between system admins, serialize
/// (one lock order, crate::domain::memberships): a SCIM deactivation of an owner racing another owner's
/// demotion of that same account, and `removeUser` racing `deleteSystemRoleBinding` on one account, end
/// with answers and never an INTERNAL error (a deadlock), and the organization keeps an active owner.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scim_deactivation_racing_a_demotion_never_deadlocks() {
    let (app, root) = spawn().await;
    let acme = organization(&app, &root, "Acme").await;
    let mut pair = Vec::new();
    for email in ["u@acme.test", "v@acme.test"] {
        let (token, _) = app.sign_up(email, PASSWORD).await;
        let id = join_by_invite(&app, &root, &acme, email, &token).await;
        pair.push((token, id));
    }
    let ((_, u), (v_token, _)) = (&pair[0], &pair[1]);
    claim_and_verify(&app, &root, &acme, "acme.test").await;
    let key = scim_key(&app, &root, &acme).await;
    const SET_ROLE: &str = "mutation($o: Uuid!, $u: Uuid!, $r: Role!) { organizationUpdateUserRole(organizationUuid: $o, userUuid: $u, role: $r) }";
    let active =
        |value: bool| json!({"schemas": [SCIM_PATCH], "Operations": [{"op": "replace", "value": {"active": value}}]});
    let path = format!("/Users/{u}");
    let owner = json!({"o": acme, "u": u, "r": "ORGANIZATION_OWNER"});
    for round in 0..200 {
        // u is an active owner again, then SCIM deactivates u while v demotes u.
        let (status, body) = scim(&app, &key, Method::PATCH, &path, Some(active(true))).await;
        assert_eq!(status, 200, "{body}");
        let _ = app.gql(SET_ROLE, owner.clone(), Some(&root)).await;
        let ((status, scim_body), demotion) = tokio::join!(
            scim(&app, &key, Method::PATCH, &path, Some(active(false))),
            app.gql(SET_ROLE, json!({"o": acme, "u": u, "r": "ORGANIZATION_MEMBER"}), Some(v_token)),
        );
        assert_eq!(status, 200, "round {round}: {scim_body}");
        assert!(demotion.get("errors").is_none(), "round {round}: {demotion}");
    }
    let owners = app
        .count(&format!(
            "SELECT count(*) AS n FROM role_bindings b JOIN users u ON u.id = b.user_id \
             WHERE b.organization_id = '{acme}' AND b.role = 'ORGANIZATION_OWNER' AND u.status = 'active'"
        ))
        .await;
    assert!(owners >= 1);
    // System level: removing an account while its system role is taken away.
    for round in 0..10 {
        let (_, id) = app.sign_up(&format!("sys{round}@example.com"), PASSWORD).await;
        assert!(app.grant_system_role(&root, &id, "SYSTEM_VIEWER").await.get("errors").is_none());
        let (removed, revoked) = tokio::join!(
            app.gql("mutation($u: Uuid!) { removeUser(userUuid: $u) { id } }", json!({"u": id}), Some(&root)),
            app.gql(
                "mutation($u: Uuid!) { deleteSystemRoleBinding(userId: $u, role: SYSTEM_VIEWER) { role } }",
                json!({"u": id}),
                Some(&root)
            ),
        );
        for body in [&removed, &revoked] {
            let code = &body["errors"][0]["extensions"]["code"];
            assert!(code.is_null() || code != "INTERNAL", "round {round}: {body}");
        }
        assert!(removed.get("errors").is_none(), "round {round}: the removal lost to a revocation: {removed}");
    }
}

/// 14. Text PostgreSQL cannot store (a NUL character) sent to SCIM or the audit export is a bad request
/// naming the input, never an internal error, and changes nothing (SPEC §7).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nul_character_outside_graphql_is_a_bad_request() {
    let (app, root) = spawn().await;
    let acme = organization(&app, &root, "Acme").await;
    claim_and_verify(&app, &root, &acme, "acme.test").await;
    let key = scim_key(&app, &root, &acme).await;
    let before = app.access_snapshot().await;
    let users = app.count("SELECT count(*) AS n FROM users").await;
    let cases = [
        (
            Method::POST,
            "/Users".to_owned(),
            Some(json!({"schemas": [SCIM_USER], "userName": "q@acme.test", "externalId": "a\u{0}b"})),
            "externalId",
        ),
        (
            Method::POST,
            "/Users".to_owned(),
            Some(json!({"schemas": [SCIM_USER], "userName": "q@acme.test", "emails": [{"value": "q\u{0}@acme.test"}]})),
            "emails[0].value",
        ),
        (Method::POST, "/Groups".to_owned(), Some(json!({"displayName": "g", "externalId": "e\u{0}"})), "externalId"),
        (Method::GET, "/Users?filter=userName%20eq%20%22a%00%22".to_owned(), None, "filter"),
        (Method::GET, "/Groups?filter=displayName%20eq%20%22a%00%22".to_owned(), None, "filter"),
    ];
    for (method, path, body, named) in cases {
        let (status, answer) = scim(&app, &key, method, &path, body).await;
        assert_eq!(status, 400, "{path}: {answer}");
        assert!(answer["detail"].as_str().is_some_and(|d| d.contains(named) && d.contains("NUL")), "{path}: {answer}");
    }
    let export = app
        .client
        .get(format!("{}/v1/audit/export?organizationUuid={acme}&action=a%00", app.base))
        .bearer_auth(&root)
        .send()
        .await
        .unwrap();
    assert_eq!(export.status(), 400);
    assert!(export.text().await.unwrap().contains("action"));
    assert_eq!(app.count("SELECT count(*) AS n FROM users").await, users);
    assert_eq!(app.access_snapshot().await, before);
}

/// 15. A deployment named next to a `workspaceUuid` must be in that workspace (SPEC §2 rule 6), in every
/// form of `upsertDeployment`: another organization's workspace, or another of the caller's own, is
/// NOT_FOUND and nothing changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upsert_deployment_checks_the_deployment_is_in_the_named_workspace() {
    let (app, root) = spawn().await;
    let other = organization(&app, &root, "Other").await;
    let elsewhere = ok(
        &app,
        &root,
        "mutation($o: Uuid!) { createWorkspace(label: \"B\", organizationUuid: $o) { id } }",
        json!({"o": other}),
    )
    .await["createWorkspace"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (dave, _) = app.sign_up("dave@example.com", PASSWORD).await;
    let mine = app.create_workspace(&dave, "W").await;
    let second = app.create_workspace(&dave, "W2").await;
    let created = app.create_deployment(&dave, &mine, "D").await;
    let deployment = created["id"].as_str().unwrap_or_else(|| panic!("{created}")).to_owned();
    let release = created["releaseName"].as_str().unwrap_or_else(|| panic!("{created}")).to_owned();
    let before = app.deployment_snapshot().await;
    for workspace in [&elsewhere, &second] {
        let body = app
            .gql(
                "mutation($w: Uuid!, $d: Uuid!) { upsertDeployment(workspaceUuid: $w, deploymentUuid: $d, label: \"moved\") { id } }",
                json!({"w": workspace, "d": deployment}),
                Some(&dave),
            )
            .await;
        let code = &body["errors"][0]["extensions"]["code"];
        assert!(code == "NOT_FOUND" || code == "FORBIDDEN", "{body}");
        let body = app
            .gql(
                "mutation($w: Uuid!, $r: String!) { upsertDeployment(workspaceUuid: $w, releaseName: $r, image: \"registry.test/x:1\") { id } }",
                json!({"w": workspace, "r": release}),
                Some(&dave),
            )
            .await;
        let code = &body["errors"][0]["extensions"]["code"];
        assert!(code == "NOT_FOUND" || code == "FORBIDDEN", "{body}");
    }
    assert_eq!(app.deployment_snapshot().await, before, "a refused upsert changed something");
    let body = app
        .gql(
            "mutation($w: Uuid!, $d: Uuid!) { upsertDeployment(workspaceUuid: $w, deploymentUuid: $d, label: \"renamed\") { label } }",
            json!({"w": mine, "d": deployment}),
            Some(&dave),
        )
        .await;
    assert_eq!(body["data"]["upsertDeployment"]["label"], "renamed", "{body}");
}

/// 16. `appConfig(clusterId)` tells nothing about a cluster the caller may not read (SPEC §2 tenancy):
/// another organization's dedicated cluster with a namespace pool answers as an unknown id does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_config_says_nothing_of_another_organizations_cluster() {
    let (app, root) = spawn().await;
    let other = organization(&app, &root, "Other").await;
    let cluster = ok(&app, &root, "mutation($o: Uuid!) { createCluster(name: \"gpu\", type: DEDICATED, organizationUuid: $o, namespaces: [\"b-secret-ns\"]) { id } }", json!({"o": other}))
        .await["createCluster"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let flag = "query($c: Uuid) { appConfig(clusterId: $c) { featureFlags } }";
    let (dave, _) = app.sign_up("dave@example.com", PASSWORD).await;
    let body = app.gql(flag, json!({"c": cluster}), Some(&dave)).await;
    assert_eq!(body["data"]["appConfig"]["featureFlags"]["manualNamespaceNames"], false, "{body}");
    let body = app.gql(flag, json!({"c": cluster}), Some(&root)).await;
    assert_eq!(
        body["data"]["appConfig"]["featureFlags"]["manualNamespaceNames"], true,
        "the owner sees its own: {body}"
    );
}
