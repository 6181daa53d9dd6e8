//! Reading is checked on objects, at any depth (SPEC §2 rule 5): a test generated from the schema itself.
//!
//! A plain organization member who views workspace A calls every query root field, with arguments naming
//! objects of A and then of B, selecting every field of every type to depth 4. Workspace B has an admin in
//! common with A and holds deployments, variables, API keys, deploys, an invite and a member of its own.
//! Nothing that belongs to B (ids, labels, release names, emails, key labels and prefixes, variable keys)
//! may appear anywhere in `data`. The walk reads the schema by introspection, so a field or type added
//! later is walked too.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::common::TestApp;

/// How deep below a root field the walk selects.
const WALK_DEPTH: usize = 4;

const INTROSPECTION: &str = r#"
query {
  __schema {
    queryType { name }
    types {
      name kind
      enumValues { name }
      inputFields { name type { ...T } }
      fields { name args { name type { ...T } } type { ...T } }
    }
  }
}
fragment T on __Type { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } }
"#;

/// The objects of one workspace that arguments can name.
#[derive(Debug, Clone, Default)]
pub struct Side {
    organization: String,
    team: String,
    cluster: String,
    organization_key: String,
    workspace: String,
    deployment: String,
    release_name: String,
    workspace_key: String,
    deployment_key: String,
    member_id: String,
    member_email: String,
    invite: String,
    invite_email: String,
}

/// Two workspaces, A (the viewer's) and B (not the viewer's), with everything SPEC §1 hangs off a workspace.
pub struct Fixture {
    pub app: TestApp,
    pub viewer: String,
    pub a: Side,
    pub b: Side,
    /// Strings that belong to B only.
    pub b_markers: BTreeSet<String>,
    /// Strings that belong to A only (the positive control: the walk must find some of them).
    pub a_markers: BTreeSet<String>,
}

async fn ok(app: &TestApp, query: &str, variables: Value, token: &str) -> Value {
    let body = app.gql(query, variables, Some(token)).await;
    assert!(body.get("errors").is_none(), "{query}: {body}");
    body["data"].clone()
}

/// One side: a workspace of `organization` (administered by `admin`) with everything hanging off it, and
/// a team, a dedicated cluster and an API key of the organization (made by its owner `root`).
async fn side(
    app: &TestApp,
    root: &str,
    admin: &str,
    organization: &str,
    name: &str,
    markers: &mut BTreeSet<String>,
) -> Side {
    let label = format!("{name} workspace label");
    let description = format!("{name} workspace description");
    let data = ok(
        app,
        "mutation($l: String!, $d: String, $o: Uuid) { createWorkspace(label: $l, description: $d, organizationUuid: $o) { id } }",
        json!({"l": label, "d": description, "o": organization}),
        admin,
    )
    .await;
    let workspace = data["createWorkspace"]["id"].as_str().unwrap().to_owned();
    let deployment = app.create_deployment(admin, &workspace, &format!("{name} deployment label")).await;
    let deployment_id = deployment["id"].as_str().unwrap().to_owned();
    let release_name = deployment["releaseName"].as_str().unwrap().to_owned();
    let upper = name.to_uppercase();
    ok(
        app,
        "mutation($d: Uuid!, $v: [InputEnvironmentVariable!]!) { updateDeploymentVariables(deploymentUuid: $d, environmentVariables: $v) { key } }",
        json!({"d": deployment_id, "v": [
            {"key": format!("{upper}_PLAIN_KEY"), "value": format!("{name}-plain-value")},
            {"key": format!("{upper}_SECRET_KEY"), "value": format!("{name}-secret-value"), "isSecret": true},
        ]}),
        admin,
    )
    .await;
    let deploy = ok(
        app,
        "mutation($d: Uuid!) { createDeploy(deploymentUuid: $d, type: IMAGE, tag: \"deploy-1\", description: \"shipped\") { id } }",
        json!({"d": deployment_id}),
        admin,
    )
    .await;
    let workspace_key = ok(
        app,
        "mutation($w: Uuid!, $l: String!) { createWorkspaceServiceAccount(label: $l, workspaceUuid: $w, role: WORKSPACE_EDITOR) { id apiKey } }",
        json!({"w": workspace, "l": format!("{name} workspace key")}),
        admin,
    )
    .await["createWorkspaceServiceAccount"]
        .clone();
    let deployment_key = ok(
        app,
        "mutation($d: Uuid!, $l: String!) { createDeploymentServiceAccount(label: $l, deploymentUuid: $d, role: DEPLOYMENT_EDITOR) { id apiKey } }",
        json!({"d": deployment_id, "l": format!("{name} deployment key")}),
        admin,
    )
    .await["createDeploymentServiceAccount"]
        .clone();
    // The member joins through an invite to the organization (so they belong to this side only).
    let member_email = format!("{name}-member@example.com");
    let invited = ok(
        app,
        "mutation($o: Uuid!, $e: String!) { organizationInviteUser(organizationUuid: $o, email: $e) { invite { id } } }",
        json!({"o": organization, "e": member_email}),
        root,
    )
    .await;
    assert!(invited["organizationInviteUser"]["invite"]["id"].is_string(), "{invited}");
    let token = app.invite_token_for(&member_email).await;
    let signed_up = ok(
        app,
        "mutation($e: String!, $t: String!) { createUser(email: $e, password: \"correct horse battery\", inviteToken: $t) { user { id } } }",
        json!({"e": member_email, "t": token}),
        root,
    )
    .await;
    let member_id = signed_up["createUser"]["user"]["id"].as_str().unwrap().to_owned();
    assert!(app.add_to_workspace(admin, &workspace, &member_email, "WORKSPACE_EDITOR").await.get("errors").is_none());
    ok(
        app,
        "mutation($e: String!, $d: Id!) { deploymentAddUserRole(email: $e, deploymentId: $d, role: DEPLOYMENT_ADMIN) { id } }",
        json!({"e": member_email, "d": deployment_id}),
        admin,
    )
    .await;
    let invite_email = format!("{name}-invitee@example.com");
    assert!(app.add_to_workspace(admin, &workspace, &invite_email, "WORKSPACE_VIEWER").await.get("errors").is_none());
    let invite = app.text(&format!("SELECT id::text AS t FROM invites WHERE workspace_id = '{workspace}'")).await;

    let team = ok(
        app,
        "mutation($o: Uuid!, $n: String!) { createTeam(organizationUuid: $o, name: $n) { id } }",
        json!({"o": organization, "n": format!("{name} team name")}),
        root,
    )
    .await["createTeam"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(
        app,
        "mutation($t: Uuid!, $u: Uuid!) { teamAddUser(teamUuid: $t, userUuid: $u) { id } }",
        json!({"t": team, "u": member_id}),
        root,
    )
    .await;
    ok(
        app,
        "mutation($w: Uuid!, $t: Uuid!) { workspaceAddTeam(workspaceUuid: $w, teamUuid: $t, role: WORKSPACE_VIEWER) { id } }",
        json!({"w": workspace, "t": team}),
        root,
    )
    .await;
    let cluster = ok(
        app,
        "mutation($o: Uuid!, $n: String!) { createCluster(name: $n, type: DEDICATED, organizationUuid: $o) { id } }",
        json!({"o": organization, "n": format!("{name} cluster name")}),
        root,
    )
    .await["createCluster"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(
        app,
        "mutation($c: Uuid!, $w: Uuid!) { workspaceAllowCluster(clusterUuid: $c, workspaceUuid: $w) { id } }",
        json!({"c": cluster, "w": workspace}),
        root,
    )
    .await;
    let organization_key = ok(
        app,
        "mutation($o: Uuid!, $l: String!) { createOrganizationServiceAccount(label: $l, organizationUuid: $o, role: ORGANIZATION_MEMBER) { id apiKey } }",
        json!({"o": organization, "l": format!("{name} organization key")}),
        root,
    )
    .await["createOrganizationServiceAccount"]
        .clone();
    let claim = ok(
        app,
        "mutation($o: Uuid!, $d: String!) { claimOrganizationDomain(organizationUuid: $o, domain: $d) { id recordValue } }",
        json!({"o": organization, "d": format!("{name}-claimed.example.test")}),
        root,
    )
    .await["claimOrganizationDomain"]
        .clone();
    let provider = ok(
        app,
        "mutation($o: Uuid!, $n: String!, $c: String!) { createIdentityProvider(organizationUuid: $o, input: {name: $n, issuerUrl: \"https://idp.example.test\", clientId: $c}) { id } }",
        json!({"o": organization, "n": format!("{name}-provider"), "c": format!("{name}-client-id")}),
        root,
    )
    .await["createIdentityProvider"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Provider names are public (`authConfig` offers every enabled provider before anyone signs in); its
    // id and settings are not.
    markers.extend([
        provider,
        format!("{name}-client-id"),
        claim["id"].as_str().unwrap().to_owned(),
        format!("{name}-claimed.example.test"),
        claim["recordValue"].as_str().unwrap().to_owned(),
        team.clone(),
        format!("{name} team name"),
        cluster.clone(),
        format!("{name} cluster name"),
        organization_key["id"].as_str().unwrap().to_owned(),
        format!("{name} organization key"),
    ]);

    let key_prefix = |key: &Value| {
        let full = key["apiKey"].as_str().unwrap();
        // `cck_<public id>_<secret>` (the secret may contain '_').
        full.splitn(3, '_').take(2).collect::<Vec<_>>().join("_")
    };
    for marker in [
        workspace.clone(),
        label,
        description,
        deployment_id.clone(),
        format!("{name} deployment label"),
        release_name.clone(),
        deployment["namespace"].as_str().unwrap().to_owned(),
        format!("{upper}_PLAIN_KEY"),
        format!("{upper}_SECRET_KEY"),
        format!("{name}-plain-value"),
        deploy["createDeploy"]["id"].as_str().unwrap().to_owned(),
        workspace_key["id"].as_str().unwrap().to_owned(),
        format!("{name} workspace key"),
        key_prefix(&workspace_key),
        deployment_key["id"].as_str().unwrap().to_owned(),
        format!("{name} deployment key"),
        key_prefix(&deployment_key),
        member_id.clone(),
        member_email.clone(),
        format!("{name}-member"),
        invite.clone(),
        invite_email.clone(),
    ] {
        markers.insert(marker);
    }
    let bindings = app
        .text(&format!(
            "SELECT string_agg(id::text, ',') AS t FROM role_bindings WHERE workspace_id = '{workspace}' OR deployment_id = '{deployment_id}'"
        ))
        .await;
    markers.extend(bindings.split(',').map(str::to_owned));
    Side {
        organization: organization.to_owned(),
        team,
        cluster,
        organization_key: organization_key["id"].as_str().unwrap().to_owned(),
        workspace,
        deployment: deployment_id,
        release_name,
        workspace_key: workspace_key["id"].as_str().unwrap().to_owned(),
        deployment_key: deployment_key["id"].as_str().unwrap().to_owned(),
        member_id,
        member_email,
        invite,
        invite_email,
    }
}

/// Builds the two workspaces. The viewer is a plain organization member (the first three users of the
/// organization are its owners) and WORKSPACE_VIEWER of A; the admin of A also administers B.
pub async fn fixture() -> Fixture {
    let app = TestApp::spawn_with(|config| {
        config.public_signups = true;
        // The walk selects everything; the request limits are not what this test is about.
        config.max_complexity = 1_000_000;
        config.max_depth = 32;
    })
    .await;
    let root = app.with_owners().await;
    let (admin, _) = app.sign_up("admin@example.com", "correct horse battery").await;
    let (viewer, _) = app.sign_up("viewer@example.com", "correct horse battery").await;
    // A's organization is the default one; B's is another, of which the admin of A is also a member.
    let alpha_organization = app.text("SELECT id::text AS t FROM organizations WHERE is_default").await;
    let created =
        ok(&app, "mutation { createOrganization(name: \"bravo organization name\") { id } }", json!({}), &root).await;
    let bravo_organization = created["createOrganization"]["id"].as_str().unwrap().to_owned();
    ok(
        &app,
        "mutation($o: Uuid!) { organizationInviteUser(organizationUuid: $o, email: \"admin@example.com\") { role } }",
        json!({"o": bravo_organization}),
        &root,
    )
    .await;
    // An existing account joins through the invite it accepts (SPEC §2).
    let token = crate::grants::invite_token(&app, "admin@example.com").await;
    ok(&app, "mutation($t: String!) { acceptInvite(token: $t) { id } }", json!({"t": token}), &admin).await;
    let mut a_markers = BTreeSet::from([alpha_organization.clone()]);
    let mut b_markers = BTreeSet::from([bravo_organization.clone(), "bravo organization name".to_owned()]);
    let a = side(&app, &root, &admin, &alpha_organization, "alpha", &mut a_markers).await;
    let b = side(&app, &root, &admin, &bravo_organization, "bravo", &mut b_markers).await;
    assert!(
        app.add_to_workspace(&admin, &a.workspace, "viewer@example.com", "WORKSPACE_VIEWER")
            .await
            .get("errors")
            .is_none()
    );
    Fixture { app, viewer, a, b, b_markers, a_markers }
}

/// The named type at the bottom of a (possibly wrapped) type reference, and whether it is non-null.
fn named(ty: &Value) -> (&str, &str) {
    let mut ty = ty;
    while ty["name"].is_null() {
        ty = &ty["ofType"];
    }
    (ty["kind"].as_str().unwrap_or_default(), ty["name"].as_str().unwrap_or_default())
}

fn required(ty: &Value) -> bool {
    ty["kind"] == "NON_NULL"
}

/// The schema's types by name.
pub struct Schema {
    types: BTreeMap<String, Value>,
    query_type: String,
}

impl Schema {
    pub async fn load(app: &TestApp, token: &str) -> Schema {
        let body = app.gql(INTROSPECTION, json!({}), Some(token)).await;
        let schema = &body["data"]["__schema"];
        let types = schema["types"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["name"].as_str().unwrap().to_owned(), t.clone()))
            .collect();
        Schema { types, query_type: schema["queryType"]["name"].as_str().unwrap().to_owned() }
    }

    fn fields(&self, type_name: &str) -> Vec<Value> {
        self.types.get(type_name).and_then(|t| t["fields"].as_array().cloned()).unwrap_or_default()
    }

    /// A GraphQL literal for an argument, chosen by its name (ids of `side`) or else by its type.
    fn literal(&self, field: &str, arg: &str, ty: &Value, side: &Side, optional: bool) -> Option<String> {
        if !optional && !required(ty) {
            return None;
        }
        let quoted = |s: &str| serde_json::to_string(s).unwrap();
        let (kind, type_name) = named(ty);
        let by_name = match arg {
            "workspaceUuid" => Some(quoted(&side.workspace)),
            "organizationUuid" => Some(quoted(&side.organization)),
            "teamUuid" => Some(quoted(&side.team)),
            "clusterUuid" => Some(quoted(&side.cluster)),
            "deploymentUuid" | "deploymentId" => Some(quoted(&side.deployment)),
            "releaseName" => Some(quoted(&side.release_name)),
            "serviceAccountUuid" if field.contains("eployment") => Some(quoted(&side.deployment_key)),
            "serviceAccountUuid" if field.contains("rganization") => Some(quoted(&side.organization_key)),
            "serviceAccountUuid" => Some(quoted(&side.workspace_key)),
            "userUuid" | "userId" => Some(quoted(&side.member_id)),
            "inviteUuid" => Some(quoted(&side.invite)),
            "scopeId" => Some(quoted(&side.workspace)),
            "permission" => Some(quoted("workspace.config.get")),
            "email" => Some(quoted(&side.member_email)),
            "all" => Some("true".into()),
            _ => None,
        };
        if by_name.is_some() {
            return by_name;
        }
        match (kind, type_name) {
            ("INPUT_OBJECT", "UserSearch") => Some(format!("{{email: {}}}", quoted(&side.member_email))),
            ("INPUT_OBJECT", "InviteSearch") => Some(format!("{{email: {}}}", quoted(&side.invite_email))),
            ("INPUT_OBJECT", "DeploymentWhereUniqueInput") => Some(format!("{{id: {}}}", quoted(&side.deployment))),
            ("INPUT_OBJECT", "AuditEventFilter") => Some(format!("{{workspaceUuid: {}}}", quoted(&side.workspace))),
            _ if !required(ty) => None,
            ("SCALAR", "Uuid" | "Id") => Some(quoted(&side.workspace)),
            ("SCALAR", "String") => Some(quoted("x")),
            ("SCALAR", "Int") => Some("10".into()),
            ("SCALAR", "Boolean") => Some("true".into()),
            ("ENUM", name) => self.types[name]["enumValues"][0]["name"].as_str().map(str::to_owned),
            _ => Some("{}".into()),
        }
    }

    fn arguments(&self, field: &Value, side: &Side, optional: bool) -> String {
        let name = field["name"].as_str().unwrap_or_default();
        let args: Vec<String> = field["args"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|arg| {
                let arg_name = arg["name"].as_str()?;
                self.literal(name, arg_name, &arg["type"], side, optional).map(|value| format!("{arg_name}: {value}"))
            })
            .collect();
        if args.is_empty() { String::new() } else { format!("({})", args.join(", ")) }
    }

    /// Every field of `type_name` down to `depth` more levels.
    fn selection(&self, type_name: &str, depth: usize, side: &Side) -> String {
        let mut parts = vec!["__typename".to_owned()];
        for field in self.fields(type_name) {
            let name = field["name"].as_str().unwrap_or_default().to_owned();
            let (kind, inner) = named(&field["type"]);
            let args = self.arguments(&field, side, true);
            match kind {
                "OBJECT" | "INTERFACE" if depth > 0 => {
                    parts.push(format!("{name}{args} {{ {} }}", self.selection(inner, depth - 1, side)));
                }
                "OBJECT" | "INTERFACE" | "UNION" => {}
                _ => parts.push(format!("{name}{args}")),
            }
        }
        parts.join(" ")
    }

    /// Two documents per query root field, with the arguments naming `side`'s objects: one with every
    /// argument the walk can fill, one with the required arguments only.
    pub fn root_documents(&self, side: &Side) -> Vec<(String, String)> {
        let mut documents = Vec::new();
        for field in self.fields(&self.query_type) {
            let name = field["name"].as_str().unwrap_or_default().to_owned();
            let (kind, inner) = named(&field["type"]);
            let selection = match kind {
                "OBJECT" | "INTERFACE" => format!(" {{ {} }}", self.selection(inner, WALK_DEPTH, side)),
                _ => String::new(),
            };
            let all = self.arguments(&field, side, true);
            let minimal = self.arguments(&field, side, false);
            documents.push((name.clone(), format!("query {{ {name}{all}{selection} }}")));
            if minimal != all {
                documents.push((
                    format!("{name} (required arguments only)"),
                    format!("query {{ {name}{minimal}{selection} }}"),
                ));
            }
        }
        documents
    }
}

fn markers_in(data: &str, markers: &BTreeSet<String>) -> Vec<String> {
    markers.iter().filter(|m| data.contains(m.as_str())).cloned().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_path_through_the_graph_reaches_another_workspace() {
    let fixture = fixture().await;
    let schema = Schema::load(&fixture.app, &fixture.viewer).await;
    let mut leaks = Vec::new();
    let mut calls = 0;
    let mut a_seen = BTreeSet::new();
    for side in [&fixture.a, &fixture.b] {
        for (field, document) in schema.root_documents(side) {
            calls += 1;
            let body = fixture.app.gql(&document, json!({}), Some(&fixture.viewer)).await;
            let data = body["data"].to_string();
            let found = markers_in(&data, &fixture.b_markers);
            if !found.is_empty() {
                leaks.push(format!(
                    "{field} (ids of {}): {found:?}",
                    if side.workspace == fixture.a.workspace { "A" } else { "B" }
                ));
            }
            a_seen.extend(markers_in(&data, &fixture.a_markers));
        }
    }
    // The positive control: the same walk does reach A's objects, so an empty result is not vacuous.
    let a = &fixture.a;
    for must_see in [&a.workspace, &a.deployment, &a.release_name, &a.member_email, &a.team, &a.organization] {
        assert!(a_seen.contains(must_see), "the walk never reached {must_see} of workspace A; saw {a_seen:?}");
    }
    assert!(
        leaks.is_empty(),
        "{} of {calls} calls returned something of workspace B:\n{}",
        leaks.len(),
        leaks.join("\n")
    );
}

/// `workspaces` and `paginatedWorkspaces` return exactly the caller's workspaces when others exist; with
/// `all: true` a system viewer sees every one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workspace_lists_hold_exactly_the_callers_workspaces() {
    let app = TestApp::spawn_with(|config| config.public_signups = true).await;
    let root = app.with_owners().await;
    let (member, _) = app.sign_up("member@example.com", "correct horse battery").await;
    let mut mine = Vec::new();
    let mut all = Vec::new();
    for index in 0..5 {
        let workspace = app.create_workspace(&root, &format!("ws-{index}")).await;
        if index % 2 == 0 {
            let added = app.add_to_workspace(&root, &workspace, "member@example.com", "WORKSPACE_VIEWER").await;
            assert!(added.get("errors").is_none(), "{added}");
            mine.push(workspace.clone());
        }
        all.push(workspace);
    }
    let ids = |body: &Value, field: &str| -> BTreeSet<String> {
        body["data"][field].as_array().unwrap().iter().map(|w| w["id"].as_str().unwrap().to_owned()).collect()
    };
    let listed = app.gql("{ workspaces { id } }", json!({}), Some(&member)).await;
    assert_eq!(ids(&listed, "workspaces"), mine.iter().cloned().collect(), "{listed}");
    let paged = app.gql("{ paginatedWorkspaces(take: 100) { id } }", json!({}), Some(&member)).await;
    assert_eq!(ids(&paged, "paginatedWorkspaces"), mine.iter().cloned().collect(), "{paged}");
    let refused = app.gql("{ workspaces(all: true) { id } }", json!({}), Some(&member)).await;
    assert_eq!(refused["errors"][0]["extensions"]["code"], "FORBIDDEN", "{refused}");
    let everything = app.gql("{ workspaces(all: true) { id } }", json!({}), Some(&root)).await;
    assert!(ids(&everything, "workspaces").is_superset(&all.iter().cloned().collect()), "{everything}");
}

/// `can` and `explainPermission` answer the same for an id of an object of another kind (or of another
/// tenant) as for an id that names nothing: they never say what an id is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explanations_do_not_say_what_an_id_names() {
    let fixture = fixture().await;
    let explain = async |id: &str| {
        let body = fixture
            .app
            .gql(
                "query($id: Uuid) { explainPermission(permission: \"deployment.config.get\", scopeId: $id) { granted explanation } }",
                json!({"id": id}),
                Some(&fixture.viewer),
            )
            .await;
        body["data"]["explainPermission"].clone()
    };
    let random = explain(&uuid::Uuid::new_v4().to_string()).await;
    for id in [&fixture.b.workspace, &fixture.a.workspace, &fixture.b.deployment] {
        let answer = explain(id).await;
        assert_eq!(answer["granted"], false);
        assert_eq!(answer["explanation"], random["explanation"], "{id}");
    }
}

/// A cluster the caller may not read and one that does not exist get the same answer: FORBIDDEN
/// (SPEC §7: a refusal never says whether the object exists).
#[tokio::test]
async fn another_organizations_cluster_is_told_apart_from_no_cluster_nowhere() {
    let fixture = fixture().await;
    let namespaces = async |id: &str| {
        fixture
            .app
            .gql(
                "query($c: Uuid!) { availableNamespaces(clusterId: $c) { name } }",
                json!({"c": id}),
                Some(&fixture.viewer),
            )
            .await
    };
    let random = namespaces(&uuid::Uuid::new_v4().to_string()).await;
    let other = namespaces(&fixture.b.cluster).await;
    assert_eq!(crate::common::error_code(&random), "FORBIDDEN", "{random}");
    assert_eq!(other["errors"][0]["message"], random["errors"][0]["message"], "{other}");
    assert_eq!(other["errors"][0]["extensions"]["code"], random["errors"][0]["extensions"]["code"], "{other}");
    // Its own organization's cluster still answers.
    let own = namespaces(&fixture.a.cluster).await;
    assert!(own.get("errors").is_none(), "{own}");
}
