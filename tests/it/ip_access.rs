//! Organization IP access lists (docs/ip-access-list.md): once an organization lists CIDR ranges, requests
//! acting on its objects must come from one of them, else FORBIDDEN naming the list. The client's address
//! is what the trusted proxy reports (`CAPCOM_TRUSTED_PROXIES=127.0.0.1/32` plus `X-Forwarded-For`), so one
//! test server sees several clients. Expectations are written from issue 26 §5, not from the code.

use serde_json::{Value, json};

use crate::common::{TestApp, error_code, error_message};

const PASSWORD: &str = "correct horse battery";
const SET_LIST: &str = "mutation($org: Uuid!, $cidrs: [String!]!) { updateOrganizationIpAccessList(organizationUuid: $org, cidrs: $cidrs) }";
const GET_LIST: &str = "query($org: Uuid!) { organizationIpAccessList(organizationUuid: $org) }";
/// An address no list of these tests holds.
const OUTSIDE: &str = "203.0.113.9";

/// Sends one operation as if from `address` (the trusted proxy at 127.0.0.1 forwards it); `None` sends it
/// straight from 127.0.0.1.
async fn gql_from(app: &TestApp, address: Option<&str>, token: &str, query: &str, variables: Value) -> Value {
    let mut request = app
        .client
        .post(format!("{}/v1", app.base))
        .header("Authorization", token)
        .json(&json!({"query": query, "variables": variables}));
    if let Some(address) = address {
        request = request.header("x-forwarded-for", address);
    }
    let response = request.send().await.expect("request");
    assert_eq!(response.status(), 200);
    response.json().await.expect("JSON body")
}

fn data(body: &Value) -> &Value {
    assert!(body.get("errors").is_none(), "unexpected errors: {body}");
    &body["data"]
}

/// FORBIDDEN, with the message that names the IP access list.
fn refused_by_list(body: &Value) {
    assert_eq!(error_code(body), "FORBIDDEN", "{body}");
    let message = error_message(body);
    assert!(message.starts_with("Access is Denied"), "{message}");
    assert!(message.contains("IP access list"), "{message}");
}

/// The world: root (system admin, owner of the default organization and of Acme), owner2 (owner of the
/// default organization only, no system role), a workspace W with a deployment D in the default
/// organization.
struct World {
    app: TestApp,
    root: String,
    owner: String,
    org: String,
    acme: String,
    workspace: String,
    deployment: String,
}

async fn world() -> World {
    let app = TestApp::spawn_with(|config| {
        config.trusted_proxies = "127.0.0.1/32".parse().unwrap();
        config.public_signups = true;
    })
    .await;
    let (root, _) = app.sign_up("root@example.com", PASSWORD).await;
    let (owner, _) = app.sign_up("owner2@example.com", PASSWORD).await;
    let orgs = app.gql("{ organizations { id } }", json!({}), Some(&owner)).await;
    let org = data(&orgs)["organizations"][0]["id"].as_str().unwrap().to_owned();
    let acme = app.gql("mutation { createOrganization(name: \"Acme\") { id } }", json!({}), Some(&root)).await;
    let acme = data(&acme)["createOrganization"]["id"].as_str().unwrap().to_owned();
    let workspace = app.create_workspace(&owner, "W").await;
    let deployment = app.create_deployment(&owner, &workspace, "D").await["id"].as_str().unwrap().to_owned();
    World { app, root, owner, org, acme, workspace, deployment }
}

impl World {
    async fn list(&self) -> String {
        self.app.text(&format!("SELECT ip_access_list::text AS t FROM organizations WHERE id = '{}'", self.org)).await
    }
}

#[tokio::test]
async fn an_owner_sets_a_list_that_holds_their_address_and_requests_from_it_work() {
    let w = world().await;
    let cidrs = json!(["127.0.0.1/32", "192.0.2.7/24", "2001:db8::1/32"]);
    let set = w.app.gql(SET_LIST, json!({"org": w.org, "cidrs": cidrs}), Some(&w.owner)).await;
    assert_eq!(
        data(&set)["updateOrganizationIpAccessList"],
        json!(["127.0.0.1/32", "192.0.2.0/24", "2001:db8::/32"]),
        "stored in canonical form"
    );
    let read = w.app.gql(GET_LIST, json!({"org": w.org}), Some(&w.owner)).await;
    assert_eq!(data(&read)["organizationIpAccessList"], json!(["127.0.0.1/32", "192.0.2.0/24", "2001:db8::/32"]));
    // From 127.0.0.1 (listed) everything of the organization works.
    let body = w
        .app
        .gql(
            "query($w: Uuid!) { workspace(workspaceUuid: $w) { id deployments { id } } }",
            json!({"w": w.workspace}),
            Some(&w.owner),
        )
        .await;
    assert_eq!(data(&body)["workspace"]["deployments"][0]["id"], json!(w.deployment));
    // The change is audited.
    let events =
        w.app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'organization.ipAccessList.update'").await;
    assert_eq!(events, 1);
    // IPv6: a client inside 2001:db8::/32 is admitted, one outside is refused.
    let inside = gql_from(
        &w.app,
        Some("2001:db8:5::7"),
        &w.owner,
        "query($w: Uuid!) { workspace(workspaceUuid: $w) { id } }",
        json!({"w": w.workspace}),
    )
    .await;
    assert_eq!(data(&inside)["workspace"]["id"], json!(w.workspace));
    let outside = gql_from(
        &w.app,
        Some("2001:db9::7"),
        &w.owner,
        "query($w: Uuid!) { workspace(workspaceUuid: $w) { id } }",
        json!({"w": w.workspace}),
    )
    .await;
    refused_by_list(&outside);
    // An empty list lifts it.
    let cleared = w.app.gql(SET_LIST, json!({"org": w.org, "cidrs": []}), Some(&w.owner)).await;
    assert_eq!(data(&cleared)["updateOrganizationIpAccessList"], json!([]));
    let anywhere = gql_from(
        &w.app,
        Some(OUTSIDE),
        &w.owner,
        "query($w: Uuid!) { workspace(workspaceUuid: $w) { id } }",
        json!({"w": w.workspace}),
    )
    .await;
    assert_eq!(data(&anywhere)["workspace"]["id"], json!(w.workspace));
}

#[tokio::test]
async fn a_list_that_would_lock_the_caller_out_or_does_not_parse_is_refused_and_changes_nothing() {
    let w = world().await;
    let before = (w.app.access_snapshot().await, w.list().await);
    for cidrs in [json!(["10.0.0.0/8"]), json!(["2001:db8::/32"]), json!(["not-a-range"]), json!(["192.0.2.0/33"])] {
        let body = w.app.gql(SET_LIST, json!({"org": w.org, "cidrs": cidrs}), Some(&w.owner)).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{cidrs}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], "cidrs", "{body}");
        assert_eq!((w.app.access_snapshot().await, w.list().await), before, "{cidrs} changed something");
    }
    // Behind the proxy, the caller's address is the forwarded one: 127.0.0.1 alone would shut it out.
    let body =
        gql_from(&w.app, Some("198.51.100.4"), &w.owner, SET_LIST, json!({"org": w.org, "cidrs": ["127.0.0.1"]})).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
    assert!(error_message(&body).contains("198.51.100.4"), "{body}");
    assert_eq!((w.app.access_snapshot().await, w.list().await), before);
}

#[tokio::test]
async fn from_an_unlisted_address_the_organizations_objects_are_refused_and_others_are_not() {
    let w = world().await;
    let set = w.app.gql(SET_LIST, json!({"org": w.org, "cidrs": ["127.0.0.1/32"]}), Some(&w.owner)).await;
    data(&set);
    let from_outside = |token: &str, query: &'static str, variables: Value| {
        let (app, token) = (&w.app, token.to_owned());
        async move { gql_from(app, Some(OUTSIDE), &token, query, variables).await }
    };
    // Root fields on the organization, its workspace and its deployment.
    refused_by_list(
        &from_outside(&w.owner, "query($o: Uuid!) { organization(organizationUuid: $o) { id } }", json!({"o": w.org}))
            .await,
    );
    refused_by_list(
        &from_outside(&w.owner, "query($w: Uuid!) { workspace(workspaceUuid: $w) { id } }", json!({"w": w.workspace}))
            .await,
    );
    refused_by_list(
        &from_outside(
            &w.owner,
            "query($w: Uuid!) { workspaceDeployments(workspaceUuid: $w) { id } }",
            json!({"w": w.workspace}),
        )
        .await,
    );
    refused_by_list(
        &from_outside(
            &w.owner,
            "query($d: String!) { deployment(where: {id: $d}) { id } }",
            json!({"d": w.deployment}),
        )
        .await,
    );
    refused_by_list(&from_outside(&w.owner, GET_LIST, json!({"org": w.org})).await);
    // Nested paths and lists reach nothing of the organization: the caller's workspaces (and their
    // deployments) and organizations are empty from there.
    let lists =
        from_outside(&w.owner, "{ workspaces { id deployments { id } } organizations { id } }", json!({})).await;
    assert_eq!(data(&lists)["workspaces"], json!([]), "{lists}");
    assert_eq!(data(&lists)["organizations"], json!([]), "{lists}");
    // Mutations are refused and change nothing (the list itself included).
    let before = (w.app.access_snapshot().await, w.app.deployment_snapshot().await, w.list().await);
    refused_by_list(
        &from_outside(
            &w.owner,
            "mutation($w: Uuid!) { updateWorkspace(workspaceUuid: $w, payload: {label: \"moved\"}) { id } }",
            json!({"w": w.workspace}),
        )
        .await,
    );
    refused_by_list(&from_outside(&w.owner, SET_LIST, json!({"org": w.org, "cidrs": []})).await);
    refused_by_list(
        &from_outside(
            &w.owner,
            "mutation($o: Uuid!) { updateOrganization(organizationUuid: $o, payload: {description: \"x\"}) { id } }",
            json!({"o": w.org}),
        )
        .await,
    );
    assert_eq!((w.app.access_snapshot().await, w.app.deployment_snapshot().await, w.list().await), before);

    // Another organization without a list is unaffected: root owns Acme and changes it from outside.
    let acme = from_outside(
        &w.root,
        "mutation($o: Uuid!) { updateOrganization(organizationUuid: $o, payload: {description: \"fine\"}) { id } }",
        json!({"o": w.acme}),
    )
    .await;
    assert_eq!(data(&acme)["updateOrganization"]["id"], json!(w.acme));
    // Root's owner role on the listed organization is subject to the list...
    refused_by_list(
        &from_outside(
            &w.root,
            "mutation($o: Uuid!) { updateOrganization(organizationUuid: $o, payload: {description: \"x\"}) { id } }",
            json!({"o": w.org}),
        )
        .await,
    );
    // ...but its installation-level operations as system admin are not.
    let all = from_outside(&w.root, "{ organizations(all: true) { id } users { id } }", json!({})).await;
    let ids: Vec<&str> =
        data(&all)["organizations"].as_array().unwrap().iter().filter_map(|o| o["id"].as_str()).collect();
    assert!(ids.contains(&w.org.as_str()) && ids.contains(&w.acme.as_str()), "{all}");
    let created = from_outside(&w.root, "mutation { createOrganization(name: \"Outside\") { id } }", json!({})).await;
    assert!(data(&created)["createOrganization"]["id"].is_string());

    // Back from a listed address, everything works again.
    let inside = gql_from(
        &w.app,
        Some("127.0.0.1"),
        &w.owner,
        "query($w: Uuid!) { workspace(workspaceUuid: $w) { id } }",
        json!({"w": w.workspace}),
    )
    .await;
    assert_eq!(data(&inside)["workspace"]["id"], json!(w.workspace));
}

#[tokio::test]
async fn an_api_key_of_the_organization_is_subject_to_the_list_and_members_cannot_change_it() {
    let w = world().await;
    let key = w
        .app
        .gql(
            "mutation($w: Uuid!) { createWorkspaceServiceAccount(label: \"ci\", category: \"ci\", workspaceUuid: $w, role: WORKSPACE_EDITOR) { apiKey } }",
            json!({"w": w.workspace}),
            Some(&w.owner),
        )
        .await;
    let key = data(&key)["createWorkspaceServiceAccount"]["apiKey"].as_str().unwrap().to_owned();
    data(&w.app.gql(SET_LIST, json!({"org": w.org, "cidrs": ["127.0.0.0/8"]}), Some(&w.owner)).await);
    let query = "query($w: Uuid!) { workspaceDeployments(workspaceUuid: $w) { id } }";
    let inside = gql_from(&w.app, Some("127.0.0.9"), &key, query, json!({"w": w.workspace})).await;
    assert_eq!(data(&inside)["workspaceDeployments"][0]["id"], json!(w.deployment));
    refused_by_list(&gql_from(&w.app, Some(OUTSIDE), &key, query, json!({"w": w.workspace})).await);
    // A workspace key cannot change the organization's list (plain FORBIDDEN: it holds no role there).
    let before = w.list().await;
    let body = w.app.gql(SET_LIST, json!({"org": w.org, "cidrs": []}), Some(&key)).await;
    assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
    assert_eq!(error_message(&body), "Access is Denied");
    assert_eq!(w.list().await, before);
}

/// Joining an organization through an invite is acting on it: from an address its list does not hold,
/// `acceptInvite` is refused naming the list and a sign-up with the invite's token leaves the invite
/// pending (the account is made, with no role in the organization); from a listed address both work.
#[tokio::test]
async fn an_invite_of_a_listed_organization_is_accepted_only_from_a_listed_address() {
    let w = world().await;
    let set =
        w.app.gql(SET_LIST, json!({"org": w.org, "cidrs": ["127.0.0.1/32", "192.0.2.0/24"]}), Some(&w.owner)).await;
    data(&set);
    let roles_in_workspace = |email: &'static str| {
        let app = &w.app;
        let workspace = w.workspace.clone();
        async move {
            app.count(&format!(
                "SELECT count(*) AS n FROM role_bindings b JOIN emails e ON e.user_id = b.user_id WHERE e.address = '{email}' AND b.workspace_id = '{workspace}'"
            ))
            .await
        }
    };

    // Signing up from outside with the invite's token: the account exists, the invite waits.
    assert!(
        w.app
            .add_to_workspace(&w.owner, &w.workspace, "outside@example.com", "WORKSPACE_VIEWER")
            .await
            .get("errors")
            .is_none()
    );
    let token = w.app.invite_token_for("outside@example.com").await;
    let signed_up = w
        .app
        .client
        .post(format!("{}/v1", w.app.base))
        .header("x-forwarded-for", "198.51.100.9")
        .json(&json!({
            "query": "mutation($t: String!) { createUser(email: \"outside@example.com\", password: \"correct horse battery\", inviteToken: $t) { token { value } } }",
            "variables": {"t": token},
        }))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let outside = data(&signed_up)["createUser"]["token"]["value"].as_str().unwrap().to_owned();
    assert_eq!(roles_in_workspace("outside@example.com").await, 0, "the invite is not applied from outside the list");
    let pending = w.app.count("SELECT count(*) AS n FROM invites WHERE email = 'outside@example.com'").await;
    assert_eq!(pending, 1, "the invite waits");

    // acceptInvite from outside: refused naming the list, nothing changes.
    let accept = "mutation($t: String!) { acceptInvite(token: $t) { id } }";
    let refused = gql_from(&w.app, Some("198.51.100.9"), &outside, accept, json!({"t": token})).await;
    refused_by_list(&refused);
    assert_eq!(roles_in_workspace("outside@example.com").await, 0);
    assert_eq!(w.app.count("SELECT count(*) AS n FROM invites WHERE email = 'outside@example.com'").await, 1);

    // From a listed address: accepted.
    let accepted = gql_from(&w.app, Some("192.0.2.44"), &outside, accept, json!({"t": token})).await;
    assert!(data(&accepted)["acceptInvite"]["id"].is_string(), "{accepted}");
    assert_eq!(roles_in_workspace("outside@example.com").await, 1);
}

/// From outside an organization's list, a caller's own roles in that organization are not shown either
/// (`self.roleBindings`): they grant nothing there and would tell an onlooker with the token which
/// organizations, workspaces and deployments the account holds roles on. Roles elsewhere still are.
#[tokio::test]
async fn from_outside_the_list_a_callers_own_roles_in_the_organization_are_not_listed() {
    let w = world().await;
    const MINE: &str = "{ self { roleBindings { id role } } }";
    let roles = |body: &Value| -> Vec<String> {
        let mut roles: Vec<String> = data(body)["self"]["roleBindings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|binding| binding["role"].as_str().unwrap_or_default().to_owned())
            .collect();
        roles.sort();
        roles
    };
    let before = roles(&gql_from(&w.app, Some(OUTSIDE), &w.owner, MINE, json!({})).await);
    assert!(
        before.contains(&"ORGANIZATION_OWNER".to_owned()) && before.contains(&"WORKSPACE_ADMIN".to_owned()),
        "{before:?}"
    );
    let set = w.app.gql(SET_LIST, json!({"org": w.org, "cidrs": ["127.0.0.1/32"]}), Some(&w.owner)).await;
    data(&set);
    // owner2 holds roles only in the listed organization: from outside, none is listed.
    let outside = roles(&gql_from(&w.app, Some(OUTSIDE), &w.owner, MINE, json!({})).await);
    assert_eq!(outside, Vec::<String>::new());
    // From a listed address, all of them.
    let inside = roles(&gql_from(&w.app, None, &w.owner, MINE, json!({})).await);
    assert_eq!(inside, before);
    // A system admin's roles are all listed from anywhere: its system role, which no list fences, reads
    // every organization's members (docs/ip-access-list.md).
    let all = roles(&gql_from(&w.app, None, &w.root, MINE, json!({})).await);
    assert_eq!(roles(&gql_from(&w.app, Some(OUTSIDE), &w.root, MINE, json!({})).await), all);
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A WebSocket speaking `protocol`, opened as if from `address` (forwarded by the trusted proxy) and
/// initialised with `token`.
async fn socket_from(app: &TestApp, protocol: &str, address: &str, token: &str) -> Socket {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("{}/ws", app.base.replace("http://", "ws://")).into_client_request().unwrap();
    request.headers_mut().insert("Sec-WebSocket-Protocol", protocol.parse().unwrap());
    request.headers_mut().insert("x-forwarded-for", address.parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let init = json!({"type": "connection_init", "payload": {"authorization": token}});
    socket.send(tokio_tungstenite::tungstenite::Message::Text(init.to_string().into())).await.unwrap();
    assert_eq!(next_message(&mut socket).await["type"], "connection_ack");
    socket
}

/// The next protocol message (pings answered, keep-alives skipped), waiting at most 20 s.
async fn next_message(socket: &mut Socket) -> Value {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let wait = async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Text(text))) => {
                    let message: Value = serde_json::from_str(&text).unwrap();
                    match message["type"].as_str() {
                        Some("ping") => {
                            socket.send(Message::Text(json!({"type": "pong"}).to_string().into())).await.unwrap();
                        }
                        Some("ka") => {}
                        _ => return message,
                    }
                }
                Some(Ok(_)) => continue,
                other => panic!("socket ended: {other:?}"),
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(20), wait).await.expect("a message within 20 s")
}

/// A subscription whose caller an organization's IP access list stops admitting receives FORBIDDEN naming
/// the list at the next event, and the stream ends (`complete`), as when a role is lost: putting the
/// address back on the list later does not resume it. Every subscription field, on both protocols.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_the_ip_access_list_shuts_out_ends() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    let w = world().await;
    let both = json!(["127.0.0.2/32", "127.0.0.3/32"]);
    data(&gql_from(&w.app, Some("127.0.0.2"), &w.owner, SET_LIST, json!({"org": w.org, "cidrs": both})).await);
    const STATUS: &str = "subscription($d: Uuid) { deploymentStatus(deploymentUuid: $d) { id workerMax } }";
    const AUDIT: &str = "subscription($o: Uuid!) { auditEventAdded(organizationUuid: $o) { action } }";
    const UPDATE: &str =
        "mutation($d: Uuid!, $n: Int!) { updateDeployment(deploymentUuid: $d, settings: {workerMax: $n}) { id } }";
    let mut workers = 10;
    for protocol in ["graphql-transport-ws", "graphql-ws"] {
        let (start, item) = if protocol == "graphql-ws" { ("start", "data") } else { ("subscribe", "next") };
        let mut socket = socket_from(&w.app, protocol, "127.0.0.2", &w.owner).await;
        for (id, query, variables) in
            [("status", STATUS, json!({"d": w.deployment})), ("audit", AUDIT, json!({"o": w.org}))]
        {
            let message = json!({"id": id, "type": start, "payload": {"query": query, "variables": variables}});
            socket.send(Message::Text(message.to_string().into())).await.unwrap();
        }
        let first = next_message(&mut socket).await;
        assert_eq!((first["id"].as_str(), first["type"].as_str()), (Some("status"), Some(item)), "{protocol}: {first}");
        assert_eq!(first["payload"]["data"]["deploymentStatus"]["id"], json!(w.deployment), "{protocol}: {first}");

        // From .3 the list drops .2 (an audit event of the organization), then the deployment changes.
        let only = json!(["127.0.0.3/32"]);
        data(&gql_from(&w.app, Some("127.0.0.3"), &w.owner, SET_LIST, json!({"org": w.org, "cidrs": only})).await);
        workers += 1;
        data(&gql_from(&w.app, Some("127.0.0.3"), &w.owner, UPDATE, json!({"d": w.deployment, "n": workers})).await);

        // Each stream: one FORBIDDEN naming the list, then `complete`; nothing of the organization.
        let mut refused = Vec::new();
        let mut completed = Vec::new();
        while completed.len() < 2 {
            let message = next_message(&mut socket).await;
            let id = message["id"].as_str().unwrap_or_default().to_owned();
            assert!(!completed.contains(&id), "{protocol}: a message after `complete`: {message}");
            match message["type"].as_str() {
                Some(kind) if kind == item => {
                    assert!(!refused.contains(&id), "{protocol}: a second item after FORBIDDEN: {message}");
                    let payload = &message["payload"];
                    let data = &payload["data"];
                    assert!(
                        data.is_null() || data.as_object().is_some_and(|o| o.values().all(Value::is_null)),
                        "{protocol}: nothing of the organization: {message}"
                    );
                    refused_by_list(payload);
                    refused.push(id);
                }
                Some("complete") => {
                    assert!(refused.contains(&id), "{protocol}: FORBIDDEN comes before `complete`: {message}");
                    completed.push(id);
                }
                _ => panic!("{protocol}: unexpected {message}"),
            }
        }
        completed.sort();
        assert_eq!(completed, ["audit", "status"], "{protocol}");

        // The list takes .2 back and the deployment changes again: the ended streams stay ended; a new
        // subscription on the same socket works.
        data(&gql_from(&w.app, Some("127.0.0.3"), &w.owner, SET_LIST, json!({"org": w.org, "cidrs": both})).await);
        let message =
            json!({"id": "again", "type": start, "payload": {"query": STATUS, "variables": {"d": w.deployment}}});
        socket.send(Message::Text(message.to_string().into())).await.unwrap();
        let again = next_message(&mut socket).await;
        assert_eq!(again["id"], "again", "{protocol}: only the new stream speaks: {again}");
        assert_eq!(again["payload"]["data"]["deploymentStatus"]["workerMax"], workers, "{protocol}: {again}");
        workers += 1;
        data(&gql_from(&w.app, Some("127.0.0.3"), &w.owner, UPDATE, json!({"d": w.deployment, "n": workers})).await);
        let pushed = next_message(&mut socket).await;
        assert_eq!(pushed["id"], "again", "{protocol}: the ended streams do not resume: {pushed}");
        assert_eq!(pushed["payload"]["data"]["deploymentStatus"]["workerMax"], workers, "{protocol}: {pushed}");
    }
}

/// The way back in (docs/ip-access-list.md, "Locked out"): owners whose address left the list (a new
/// office, a changed dynamic address) are refused everywhere in the organization, and so cannot change
/// the list themselves; the installation's operator lifts it with `capcom lift-ip-access-list` against
/// the server's database. Requests from anywhere then work, the change is an audit event by the operator
/// with the list it removed, and an unknown organization or one without a list changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_lifts_a_list_that_shuts_the_owners_out() {
    let w = world().await;
    let lift = |organization: &str| {
        let data_dir = tempfile::Builder::new().prefix("capcom-lift-").tempdir_in(std::env::temp_dir()).unwrap();
        std::process::Command::new(env!("CARGO_BIN_EXE_capcom"))
            .args(["lift-ip-access-list", "--organization", organization])
            .env("DATABASE_URL", &w.app.db_url)
            .env("CAPCOM_DATA_DIR", data_dir.path())
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    };
    let no_list = lift(&w.org);
    assert!(no_list.status.success(), "{}", String::from_utf8_lossy(&no_list.stderr));
    assert!(String::from_utf8_lossy(&no_list.stdout).contains("no IP access list"));
    let audited = "SELECT count(*) AS n FROM audit_events WHERE action = 'organization.ipAccessList.update'";
    assert_eq!(w.app.count(audited).await, 0, "nothing to lift, nothing recorded");

    // The owner's list holds only the office they worked from; now they work from elsewhere.
    let office = "198.51.100.20";
    let set =
        gql_from(&w.app, Some(office), &w.owner, SET_LIST, json!({"org": w.org, "cidrs": ["198.51.100.0/24"]})).await;
    data(&set);
    let workspace = "query($w: Uuid!) { workspace(workspaceUuid: $w) { id } }";
    refused_by_list(&gql_from(&w.app, Some(OUTSIDE), &w.owner, workspace, json!({"w": w.workspace})).await);
    let retry = gql_from(&w.app, Some(OUTSIDE), &w.owner, SET_LIST, json!({"org": w.org, "cidrs": []})).await;
    refused_by_list(&retry);

    // An unknown organization: refused, nothing changes.
    let unknown = lift(&uuid::Uuid::new_v4().to_string());
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no organization has the id"), "{unknown:?}");
    assert_eq!(w.list().await, "{198.51.100.0/24}");

    let lifted = lift(&w.org);
    assert!(lifted.status.success(), "{}", String::from_utf8_lossy(&lifted.stderr));
    assert!(String::from_utf8_lossy(&lifted.stdout).contains("198.51.100.0/24"), "{lifted:?}");
    assert_eq!(w.list().await, "{}");
    data(&gql_from(&w.app, Some(OUTSIDE), &w.owner, workspace, json!({"w": w.workspace})).await);
    let event = w
        .app
        .text(
            "SELECT json_build_object('label', actor_label, 'before', before, 'after', after)::text AS t \
             FROM audit_events WHERE action = 'organization.ipAccessList.update' ORDER BY occurred_at DESC LIMIT 1",
        )
        .await;
    let event: Value = serde_json::from_str(&event).unwrap();
    assert_eq!(event["label"], "operator (capcom lift-ip-access-list)", "{event}");
    assert_eq!(event["before"], json!({"cidrs": ["198.51.100.0/24"]}), "{event}");
    assert_eq!(event["after"], json!({"cidrs": []}), "{event}");
}
