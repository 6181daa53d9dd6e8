//! SCIM 2.0: an identity provider's provisioning cycle over HTTP (create, look up by filter, deactivate,
//! group membership, delete), each step's effect on users, teams and sessions asserted, and every
//! response checked against RFC 7643/7644's shapes.

use chrono::Utc;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::TestApp;
use crate::domains::claim_and_verify;

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const LIST: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

struct Scim<'a> {
    app: &'a TestApp,
    key: String,
}

impl Scim<'_> {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        call(self.app, Some(&self.key), method, path, body).await
    }
}

async fn call(
    app: &TestApp,
    key: Option<&str>,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = app.client.request(method, format!("{}/scim/v2{path}", app.base));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    if let Some(body) = body {
        request = request.header("content-type", "application/scim+json").body(body.to_string());
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    if status == StatusCode::NO_CONTENT {
        return (status, Value::Null);
    }
    let media = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert_eq!(media, "application/scim+json", "{path}");
    (status, response.json().await.unwrap())
}

/// RFC 7644 §3.12: an error response.
fn assert_error(status: StatusCode, body: &Value, expected: StatusCode, scim_type: Option<&str>) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["schemas"], json!([ERROR]), "{body}");
    assert_eq!(body["status"], expected.as_u16().to_string(), "{body}");
    assert!(body["detail"].is_string(), "{body}");
    if let Some(scim_type) = scim_type {
        assert_eq!(body["scimType"], scim_type, "{body}");
    }
}

fn assert_meta(resource: &Value, kind: &str, base: &str) {
    let meta = &resource["meta"];
    assert_eq!(meta["resourceType"], kind, "{resource}");
    let location = meta["location"].as_str().unwrap();
    assert!(location.starts_with(&format!("{base}/scim/v2/")), "{location}");
    if resource["id"].is_string() && kind != "ResourceType" && kind != "Schema" {
        assert!(location.ends_with(resource["id"].as_str().unwrap()), "{location}");
        for time in ["created", "lastModified"] {
            chrono::DateTime::parse_from_rfc3339(meta[time].as_str().unwrap()).unwrap();
        }
    }
}

/// RFC 7643 §4.1 and §3.1: a User resource.
fn assert_user(user: &Value, base: &str) {
    assert_eq!(user["schemas"], json!([USER]), "{user}");
    assert!(user["id"].as_str().is_some_and(|id| !id.is_empty() && id != "bulkId"), "{user}");
    assert!(user["userName"].as_str().is_some_and(|n| !n.is_empty()), "{user}");
    assert!(user["active"].is_boolean(), "{user}");
    for email in user["emails"].as_array().unwrap() {
        assert!(email["value"].is_string() && email["primary"].is_boolean(), "{user}");
    }
    for group in user["groups"].as_array().unwrap() {
        assert!(group["value"].is_string() && group["$ref"].is_string() && group["display"].is_string(), "{user}");
    }
    assert!(user.get("password").is_none(), "{user}");
    assert_meta(user, "User", base);
}

/// RFC 7643 §4.2: a Group resource.
fn assert_group(group: &Value, base: &str) {
    assert_eq!(group["schemas"], json!([GROUP]), "{group}");
    assert!(group["id"].is_string() && group["displayName"].is_string(), "{group}");
    for member in group["members"].as_array().unwrap() {
        assert!(member["value"].is_string() && member["$ref"].is_string(), "{group}");
    }
    assert_meta(group, "Group", base);
}

/// RFC 7644 §3.4.2: a list response.
fn assert_list(list: &Value, total: i64) -> Vec<Value> {
    assert_eq!(list["schemas"], json!([LIST]), "{list}");
    assert_eq!(list["totalResults"], total, "{list}");
    assert!(list["startIndex"].as_i64().is_some_and(|s| s >= 1), "{list}");
    let resources = list["Resources"].as_array().unwrap().clone();
    assert_eq!(list["itemsPerPage"], resources.len(), "{list}");
    resources
}

async fn members(app: &TestApp, team: String) -> String {
    app.text(&format!(
        "SELECT coalesce(string_agg(u.username, ',' ORDER BY u.username), '') AS t FROM team_members m JOIN users u ON u.id = m.user_id WHERE m.team_id = '{team}'"
    ))
    .await
}

struct Setup {
    app: TestApp,
    root: String,
    acme: String,
    key: String,
}

async fn organization_key(app: &TestApp, root: &str, acme: &str, role: &str) -> String {
    let body = app
        .gql(
            "mutation($o: Uuid!, $r: Role!, $l: String!) { createOrganizationServiceAccount(label: $l, organizationUuid: $o, role: $r) { apiKey } }",
            json!({"o": acme, "r": role, "l": format!("provisioning {role}")}),
            Some(root),
        )
        .await;
    body["data"]["createOrganizationServiceAccount"]["apiKey"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned()
}

async fn setup() -> Setup {
    let app = TestApp::spawn_with(|config| config.public_signups = true).await;
    let (root, _) = app.sign_up("root@example.com", "correct horse battery").await;
    let created = app.gql("mutation { createOrganization(name: \"Acme\") { id } }", json!({}), Some(&root)).await;
    let acme = created["data"]["createOrganization"]["id"].as_str().unwrap().to_owned();
    claim_and_verify(&app, &root, &acme, "acme.test").await;
    let key = organization_key(&app, &root, &acme, "ORGANIZATION_OWNER").await;
    Setup { app, root, acme, key }
}

fn alice() -> Value {
    json!({
        "schemas": [USER],
        "userName": "alice@acme.test",
        "externalId": "00u-alice",
        "name": {"givenName": "Alice", "familyName": "Liddell"},
        "emails": [{"value": "alice@acme.test", "primary": true, "type": "work"}],
        "active": true,
    })
}

/// A capcom token of `user`, signed with the server's key, as sign-in would issue it.
async fn token_of(app: &TestApp, user: &str) -> String {
    let valid_after = app
        .text(&format!("SELECT extract(epoch FROM tokens_valid_after)::text AS t FROM users WHERE id = '{user}'"))
        .await;
    let valid_after = chrono::DateTime::from_timestamp(valid_after.parse::<f64>().unwrap().ceil() as i64, 0).unwrap();
    let claims = app.state.keys.claims_for(user.parse().unwrap(), Utc::now(), valid_after);
    app.state.keys.sign(&claims).unwrap()
}

async fn signed_in(app: &TestApp, token: &str) -> bool {
    let body = app.gql("{ self { id } }", json!({}), Some(token)).await;
    body["data"]["self"]["id"].is_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provisioning_cycle_creates_finds_deactivates_groups_and_deletes() {
    let Setup { app, root, acme, key } = setup().await;
    let scim = Scim { app: &app, key };
    let base = app.base.clone();

    // Discovery.
    let (status, config) = scim.call(Method::GET, "/ServiceProviderConfig", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(config["schemas"], json!(["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"]));
    for feature in ["patch", "bulk", "filter", "changePassword", "sort", "etag"] {
        assert!(config[feature]["supported"].is_boolean(), "{feature}");
    }
    assert_eq!(config["authenticationSchemes"][0]["type"], "oauthbearertoken");
    let (_, types) = scim.call(Method::GET, "/ResourceTypes", None).await;
    let types = assert_list(&types, 2);
    assert_eq!(types.iter().map(|t| t["endpoint"].as_str().unwrap()).collect::<Vec<_>>(), ["/Users", "/Groups"]);
    for resource_type in &types {
        assert_meta(resource_type, "ResourceType", &base);
    }
    let (_, schemas) = scim.call(Method::GET, "/Schemas", None).await;
    let schemas = assert_list(&schemas, 2);
    assert_eq!(schemas[0]["id"], USER);
    assert!(
        schemas[0]["attributes"].as_array().unwrap().iter().any(|a| a["name"] == "userName" && a["required"] == true)
    );
    let (status, one) = scim.call(Method::GET, &format!("/Schemas/{GROUP}"), None).await;
    assert_eq!((status, one["name"].as_str()), (StatusCode::OK, Some("Group")));

    // Create: a new account, with a verified address and no password, a member of the organization.
    let (status, created) = scim.call(Method::POST, "/Users", Some(alice())).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_user(&created, &base);
    assert_eq!(created["userName"], "alice@acme.test");
    assert_eq!(created["externalId"], "00u-alice");
    assert_eq!(created["name"]["formatted"], "Alice Liddell");
    let alice_id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.text(&format!(
            "SELECT role AS t FROM role_bindings WHERE user_id = '{alice_id}' AND organization_id = '{acme}'"
        ))
        .await,
        "ORGANIZATION_MEMBER"
    );
    assert_eq!(
        app.count(&format!("SELECT count(*) AS n FROM emails WHERE user_id = '{alice_id}' AND verified")).await,
        1
    );
    assert_eq!(
        app.count(&format!("SELECT count(*) AS n FROM local_credentials WHERE user_id = '{alice_id}'")).await,
        0
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'scim.user.create'").await, 1);

    // Again: uniqueness. An address outside the organization's verified domains: refused, nothing made.
    let (status, again) = scim.call(Method::POST, "/Users", Some(alice())).await;
    assert_error(status, &again, StatusCode::CONFLICT, Some("uniqueness"));
    let before = app.access_snapshot().await;
    let mut outsider = alice();
    outsider["userName"] = json!("mallory@elsewhere.test");
    outsider["emails"] = json!([{"value": "mallory@elsewhere.test", "primary": true}]);
    let (status, refused) = scim.call(Method::POST, "/Users", Some(outsider)).await;
    assert_error(status, &refused, StatusCode::FORBIDDEN, None);
    let (status, refused) = scim.call(Method::POST, "/Users", Some(json!({"schemas": [USER]}))).await;
    assert_error(status, &refused, StatusCode::BAD_REQUEST, Some("invalidValue"));
    assert_eq!(app.access_snapshot().await, before);

    // A second user, then look-ups by filter.
    let mut bob = alice();
    bob["userName"] = json!("bob@acme.test");
    bob["externalId"] = json!("00u-bob");
    bob["emails"] = json!([{"value": "bob@acme.test", "primary": true}]);
    let (status, bob) = scim.call(Method::POST, "/Users", Some(bob)).await;
    assert_eq!(status, StatusCode::CREATED, "{bob}");
    let bob_id = bob["id"].as_str().unwrap().to_owned();
    let (status, found) = scim.call(Method::GET, "/Users?filter=userName%20eq%20%22ALICE%40acme.test%22", None).await;
    assert_eq!(status, StatusCode::OK);
    let found = assert_list(&found, 1);
    assert_eq!(found[0]["id"], alice_id.as_str());
    assert_user(&found[0], &base);
    let (_, by_external) = scim.call(Method::GET, "/Users?filter=externalId%20eq%20%2200u-bob%22", None).await;
    assert_eq!(assert_list(&by_external, 1)[0]["id"], bob_id.as_str());
    let (_, nobody) = scim.call(Method::GET, "/Users?filter=userName%20eq%20%22carol%40acme.test%22", None).await;
    assert!(assert_list(&nobody, 0).is_empty());
    // Members: alice and bob, paged; root (the owner) holds SYSTEM_ADMIN, out of the provider's reach
    // (SPEC §3.1), so not listed.
    let (_, page) = scim.call(Method::GET, "/Users?startIndex=2&count=1", None).await;
    assert_eq!(assert_list(&page, 2).len(), 1);
    assert!(!page.to_string().contains("root@example.com"), "{page}");
    assert_eq!(page["startIndex"], 2);
    let (status, bad) = scim.call(Method::GET, "/Users?filter=userName%20co%20%22a%22", None).await;
    assert_error(status, &bad, StatusCode::BAD_REQUEST, Some("invalidFilter"));

    // A group with alice; bob added, alice removed, through PATCH.
    let (status, group) = scim
        .call(
            Method::POST,
            "/Groups",
            Some(json!({"schemas": [GROUP], "displayName": "Engineers", "externalId": "grp-1", "members": [{"value": alice_id}]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    assert_group(&group, &base);
    let team = group["id"].as_str().unwrap().to_owned();
    assert_eq!(members(&app, team.clone()).await, "alice@acme.test");
    assert_eq!(app.text(&format!("SELECT organization_id::text AS t FROM teams WHERE id = '{team}'")).await, acme);
    let (status, patched) = scim
        .call(
            Method::PATCH,
            &format!("/Groups/{team}"),
            Some(json!({"schemas": [PATCH], "Operations": [{"op": "add", "path": "members", "value": [{"value": bob_id}]}]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_group(&patched, &base);
    assert_eq!(members(&app, team.clone()).await, "alice@acme.test,bob@acme.test");
    let (status, _) = scim
        .call(
            Method::PATCH,
            &format!("/Groups/{team}"),
            Some(json!({"schemas": [PATCH], "Operations": [{"op": "remove", "path": format!("members[value eq \"{alice_id}\"]")}]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(members(&app, team.clone()).await, "bob@acme.test");
    let (_, bob_now) = scim.call(Method::GET, &format!("/Users/{bob_id}"), None).await;
    assert_eq!(bob_now["groups"][0]["display"], "Engineers");
    let (_, by_name) = scim.call(Method::GET, "/Groups?filter=displayName%20eq%20%22engineers%22", None).await;
    assert_eq!(assert_list(&by_name, 1)[0]["id"], team.as_str());
    // A member that is not in the organization is refused.
    let (status, refused) = scim
        .call(
            Method::PATCH,
            &format!("/Groups/{team}"),
            Some(json!({"schemas": [PATCH], "Operations": [{"op": "add", "path": "members", "value": [{"value": uuid::Uuid::new_v4().to_string()}]}]})),
        )
        .await;
    assert_error(status, &refused, StatusCode::BAD_REQUEST, Some("invalidValue"));

    // Deactivate bob (Azure AD sends the boolean as a string): his session ends at once, and nothing else
    // changes: he stays a member of the organization and of the team.
    let token = token_of(&app, &bob_id).await;
    assert!(signed_in(&app, &token).await);
    let (status, deactivated) = scim
        .call(
            Method::PATCH,
            &format!("/Users/{bob_id}"),
            Some(json!({"schemas": [PATCH], "Operations": [{"op": "Replace", "path": "active", "value": "False"}]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{deactivated}");
    assert_eq!(deactivated["active"], false);
    assert!(!signed_in(&app, &token).await, "the token is refused at once");
    assert_eq!(app.text(&format!("SELECT status AS t FROM users WHERE id = '{bob_id}'")).await, "inactive");
    assert_eq!(members(&app, team.clone()).await, "bob@acme.test");
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM role_bindings WHERE user_id = '{bob_id}' AND organization_id = '{acme}'"
        ))
        .await,
        1
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'scim.user.deactivate'").await, 1);
    // Reactivated, he may sign in again; the old token stays revoked.
    let (_, reactivated) = scim
        .call(
            Method::PATCH,
            &format!("/Users/{bob_id}"),
            Some(json!({"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": true, "displayName": "Robert"}}]})),
        )
        .await;
    assert_eq!((reactivated["active"].as_bool(), reactivated["displayName"].as_str()), (Some(true), Some("Robert")));
    assert!(!signed_in(&app, &token).await);

    // PUT replaces what the provider manages.
    let mut replaced = alice();
    replaced["name"] = json!({"formatted": "Alice P. Liddell"});
    replaced["externalId"] = json!("00u-alice-2");
    let (status, put) = scim.call(Method::PUT, &format!("/Users/{alice_id}"), Some(replaced)).await;
    assert_eq!(status, StatusCode::OK, "{put}");
    assert_eq!(
        (put["displayName"].as_str(), put["externalId"].as_str()),
        (Some("Alice P. Liddell"), Some("00u-alice-2"))
    );

    // Delete bob: he leaves the organization and its teams; his account stays.
    let (status, _) = scim.call(Method::DELETE, &format!("/Users/{bob_id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM role_bindings WHERE user_id = '{bob_id}' AND organization_id = '{acme}'"
        ))
        .await,
        0
    );
    assert_eq!(members(&app, team.clone()).await, "");
    assert_eq!(app.count(&format!("SELECT count(*) AS n FROM users WHERE id = '{bob_id}'")).await, 1);
    let (status, gone) = scim.call(Method::GET, &format!("/Users/{bob_id}"), None).await;
    assert_error(status, &gone, StatusCode::NOT_FOUND, None);

    // Delete the group: the team is gone.
    let (status, _) = scim.call(Method::DELETE, &format!("/Groups/{team}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(app.count(&format!("SELECT count(*) AS n FROM teams WHERE id = '{team}'")).await, 0);

    // The organization's owner, a system admin, is out of the provider's reach: not found.
    let root_id = app.text("SELECT user_id::text AS t FROM role_bindings WHERE role = 'SYSTEM_ADMIN'").await;
    let (status, refused) = scim.call(Method::DELETE, &format!("/Users/{root_id}"), None).await;
    assert_error(status, &refused, StatusCode::NOT_FOUND, None);
    let _ = root;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_organization_keys_holding_the_provisioning_permission_get_in() {
    let Setup { app, root, acme, key } = setup().await;
    let member_key = organization_key(&app, &root, &acme, "ORGANIZATION_MEMBER").await;
    let workspace = app
        .gql(
            "mutation($o: Uuid) { createWorkspace(label: \"W\", organizationUuid: $o) { id } }",
            json!({"o": acme}),
            Some(&root),
        )
        .await["data"]["createWorkspace"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = app
        .gql(
            "mutation($w: Uuid!) { createWorkspaceServiceAccount(label: \"w\", workspaceUuid: $w, role: WORKSPACE_ADMIN) { apiKey } }",
            json!({"w": workspace}),
            Some(&root),
        )
        .await;
    let workspace_key = body["data"]["createWorkspaceServiceAccount"]["apiKey"].as_str().unwrap().to_owned();

    let before = app.access_snapshot().await;
    let (status, body) = call(&app, None, Method::POST, "/Users", Some(alice())).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, None);
    let (status, body) = call(&app, Some("cck_000000000000_nope"), Method::GET, "/Users", None).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, None);
    for refused in [&member_key, &workspace_key, &root] {
        let (status, body) = call(&app, Some(refused), Method::POST, "/Users", Some(alice())).await;
        assert_error(status, &body, StatusCode::FORBIDDEN, None);
        let (status, body) = call(&app, Some(refused), Method::GET, "/Users", None).await;
        assert_error(status, &body, StatusCode::FORBIDDEN, None);
    }
    assert_eq!(app.access_snapshot().await, before);
    // The owner key of another organization sees nothing of Acme.
    let other = app.gql("mutation { createOrganization(name: \"Other\") { id } }", json!({}), Some(&root)).await;
    let other = other["data"]["createOrganization"]["id"].as_str().unwrap().to_owned();
    let other_key = organization_key(&app, &root, &other, "ORGANIZATION_OWNER").await;
    let (status, created) = call(&app, Some(&key), Method::POST, "/Users", Some(alice())).await;
    assert_eq!(status, StatusCode::CREATED);
    let alice_id = created["id"].as_str().unwrap();
    let (status, body) = call(&app, Some(&other_key), Method::GET, &format!("/Users/{alice_id}"), None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, None);
    let (status, body) = call(&app, Some(&other_key), Method::POST, "/Users", Some(alice())).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, None);
    let (_, listed) = call(&app, Some(&other_key), Method::GET, "/Users", None).await;
    assert!(!listed.to_string().contains("alice"), "{listed}");
}
