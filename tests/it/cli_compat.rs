//! The `astro` CLI's documents (as listed in the client operations contract) validate and execute with
//! correctly shaped data. Tokens are sent without `Bearer`, unused variables are sent anyway.

use apollo_compiler::ast::{Definition, Document, Selection};
use serde_json::{Value, json};

use crate::cli_documents as doc;
use crate::common::TestApp;

fn ok(body: &Value, what: &str) {
    assert!(body.get("errors").is_none(), "{what}: {body}");
    assert!(body["data"].is_object(), "{what}: {body}");
}

#[tokio::test]
async fn identity_and_workspace_documents_work_as_the_cli_sends_them() {
    let app = TestApp::spawn_with(|config| config.public_signups = true).await;

    let body = app.gql("query AppConfig { appConfig { version } }", json!({"unused": 1}), None).await;
    ok(&body, "appConfig");
    assert_eq!(body["data"]["appConfig"]["version"], "2.1.0");
    let body = app
        .gql(
            "query AppConfig($clusterId: Uuid, $workspaceUuid: Uuid, $deploymentUuid: Uuid) { appConfig(clusterId: $clusterId, workspaceUuid: $workspaceUuid, deploymentUuid: $deploymentUuid) { version baseDomain byoUpdateRegistryHost smtpConfigured featureFlags } }",
            json!({"clusterId": "", "workspaceUuid": "", "deploymentUuid": ""}),
            None,
        )
        .await;
    ok(&body, "appConfig with ids");
    assert_eq!(body["data"]["appConfig"]["featureFlags"]["dagOnlyDeployment"], true);
    let body = app
        .gql("query GetAuthConfig($redirect: String) { authConfig(redirect: $redirect) { localEnabled publicSignup initialSignup providers { name displayName url } } }", json!({"redirect": ""}), None)
        .await;
    ok(&body, "authConfig");

    let body = app
        .gql(
            "mutation CreateUser($email: String!, $password: String!, $username: String, $inviteToken: String) { createUser(email: $email, password: $password, username: $username, inviteToken: $inviteToken) { user { id username status createdAt updatedAt } token { value } } }",
            json!({"email": "ada@example.com", "password": "correct horse", "username": "ada", "inviteToken": ""}),
            None,
        )
        .await;
    ok(&body, "createUser");
    let body = app
        .gql(
            "mutation createBasicToken($identity: String, $password: String!) { createToken(identity: $identity, password: $password) { user { id fullName username status createdAt updatedAt } token { value } } }",
            json!({"identity": "ada@example.com", "password": "correct horse"}),
            None,
        )
        .await;
    ok(&body, "createToken");
    let token = body["data"]["createToken"]["token"]["value"].as_str().unwrap().to_owned();
    let token = Some(token.as_str());
    let created_at = body["data"]["createToken"]["user"]["createdAt"].as_str().unwrap().to_owned();
    assert!(chrono::DateTime::parse_from_rfc3339(&created_at).is_ok(), "RFC 3339: {created_at}");

    let body = app
        .gql("mutation CreateWorkspace($label: String!, $description: String) { createWorkspace(label: $label, description: $description) { id label description createdAt updatedAt } }", json!({"label": "Data", "description": "d"}), token)
        .await;
    ok(&body, "createWorkspace");
    let workspace = body["data"]["createWorkspace"]["id"].as_str().unwrap().to_owned();
    app.sign_up("grace@example.com", "correct horse battery").await;

    let documents: Vec<(&str, Value)> = vec![
        (
            "query GetWorkspaces { workspaces { id label description createdAt updatedAt roleBindings { role user { id username } serviceAccount { id label } } } }",
            json!({}),
        ),
        (
            "query GetWorkspace($workspaceUuid: Uuid!) { workspace(workspaceUuid: $workspaceUuid) { id label description createdAt updatedAt } }",
            json!({"workspaceUuid": workspace}),
        ),
        (
            "query GetWorkspace($workspaceUuid: Uuid!) { workspace(workspaceUuid: $workspaceUuid) { id label description createdAt updatedAt roleBindings { role user { id username } serviceAccount { id label } } } }",
            json!({"workspaceUuid": workspace}),
        ),
        (
            "query paginatedWorkspaces($take: Int, $pageNumber: Int) { paginatedWorkspaces(take: $take, pageNumber: $pageNumber) { id label description createdAt updatedAt } }",
            json!({"take": 10, "pageNumber": 1}),
        ),
        (
            "mutation UpdateWorkspace($workspaceUuid: Uuid!, $payload: JSON!) { updateWorkspace(workspaceUuid: $workspaceUuid, payload: $payload) { id label description createdAt updatedAt } }",
            json!({"workspaceUuid": workspace, "payload": {"label": "Data Team"}}),
        ),
        (
            "mutation AddWorkspaceUser($workspaceUuid: Uuid!, $email: String!, $role: Role!) { workspaceAddUser(workspaceUuid: $workspaceUuid, email: $email, role: $role) { id label description users { id username roleBindings { role } } createdAt updatedAt } }",
            json!({"workspaceUuid": workspace, "email": "grace@example.com", "role": "WORKSPACE_VIEWER"}),
        ),
        (
            "query GetWorkspaceUsers($workspaceUuid: Uuid!) { workspaceUsers(workspaceUuid: $workspaceUuid) { id username fullName emails { address } roleBindings { workspace { id } role } } }",
            json!({"workspaceUuid": workspace}),
        ),
        (
            "query GetWorkspaceUser($workspaceUuid: Uuid!, $email: String!) { workspaceUser(workspaceUuid: $workspaceUuid, user: {email: $email}) { id username roleBindings { workspace { id } role } } }",
            json!({"workspaceUuid": workspace, "email": "grace@example.com"}),
        ),
        (
            "query paginatedWorkspaceUsers($workspaceUuid: Uuid!, $cursor: Uuid, $take: Int) { paginatedWorkspaceUsers(workspaceUuid: $workspaceUuid, cursor: $cursor, take: $take) { id username fullName emails { address } roleBindings { workspace { id } role } } }",
            json!({"workspaceUuid": workspace, "cursor": "", "take": 5}),
        ),
        (
            "mutation workspaceUpsertUserRole($workspaceUuid: Uuid!, $email: String!, $role: Role!) { workspaceUpsertUserRole(workspaceUuid: $workspaceUuid, email: $email, role: $role) }",
            json!({"workspaceUuid": workspace, "email": "grace@example.com", "role": "WORKSPACE_EDITOR"}),
        ),
    ];
    for (document, variables) in documents {
        let body = app.gql(document, variables, token).await;
        ok(&body, document);
    }
    let grace = app.text("SELECT id::text AS t FROM users WHERE username = 'grace@example.com'").await;
    let body = app
        .gql("mutation DeleteWorkspaceUser($workspaceUuid: Uuid!, $userUuid: Uuid!) { workspaceRemoveUser(workspaceUuid: $workspaceUuid, userUuid: $userUuid) { id label description users { id username } createdAt updatedAt } }", json!({"workspaceUuid": workspace, "userUuid": grace}), token)
        .await;
    ok(&body, "workspaceRemoveUser");
    assert_eq!(body["data"]["workspaceRemoveUser"]["users"].as_array().unwrap().len(), 1);
    let body = app
        .gql("mutation DeleteWorkspace($workspaceUuid: Uuid!) { deleteWorkspace(workspaceUuid: $workspaceUuid) { id label description } }", json!({"workspaceUuid": workspace}), token)
        .await;
    ok(&body, "deleteWorkspace");
}

#[tokio::test]
async fn deployment_documents_and_logs_work_as_the_cli_sends_them() {
    let app = TestApp::spawn_with(|config| config.public_signups = true).await;
    let root = app.with_owners().await;
    let (viewer, _) = app.sign_up("viewer@example.com", "correct horse battery").await;
    let workspace = app.create_workspace(&root, "Data").await;
    let other = app.create_workspace(&root, "Other").await;
    app.add_to_workspace(&root, &workspace, "viewer@example.com", "WORKSPACE_VIEWER").await;
    let mine = app.create_deployment(&root, &workspace, "etl").await;
    app.create_deployment(&root, &other, "hidden").await;
    let id = mine["id"].as_str().unwrap();

    let body = app
        .gql("query GetDeployment($id: String!) { deployment(where: {id: $id}) { id runtimeVersion runtimeAirflowVersion releaseName urls { type url } dagDeployment { type } clusterId } }", json!({"id": id}), Some(&viewer))
        .await;
    ok(&body, "deployment(where)");
    assert_eq!(body["data"]["deployment"]["releaseName"], mine["releaseName"]);

    let document = "query paginatedDeployments($take: Int, $name: String, $cursor: Uuid, $pageNumber: Int, $clusterId: Uuid) { paginatedDeployments(take: $take, name: $name, cursor: $cursor, pageNumber: $pageNumber, clusterId: $clusterId) { id type label releaseName workspace { id } deployInfo { nextCli current } version runtimeVersion clusterId createdAt updatedAt } }";
    let body = app
        .gql(document, json!({"take": 10, "name": "", "cursor": "", "pageNumber": 1, "clusterId": ""}), Some(&viewer))
        .await;
    ok(&body, "paginatedDeployments");
    let labels: Vec<&str> =
        body["data"]["paginatedDeployments"].as_array().unwrap().iter().map(|d| d["label"].as_str().unwrap()).collect();
    assert_eq!(labels, ["etl"], "a viewer sees only what it may read");
    let body = app.gql(document, json!({"take": 10}), Some(&root)).await;
    assert_eq!(body["data"]["paginatedDeployments"].as_array().map(Vec::len), Some(2), "a system admin sees all");

    let body = app
        .gql("query GetLogs($deploymentUuid: Uuid!, $component: String, $timestamp: DateTime, $search: String) { logs(deploymentUuid: $deploymentUuid, component: $component, timestamp: $timestamp, search: $search) { id createdAt: timestamp log: message } }", json!({"deploymentUuid": id, "component": "scheduler"}), Some(&root))
        .await;
    assert_eq!(crate::common::error_code(&body), "NOT_SUPPORTED");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("logs"), "{body}");
}

#[tokio::test]
async fn upsert_deployment_creates_updates_and_deploys_as_the_cli_sends_it() {
    let app = TestApp::spawn().await;
    let (owner, _) = app.sign_up("ada@example.com", "correct horse battery").await;
    let workspace = app.create_workspace(&owner, "Data").await;
    let token = Some(owner.as_str());

    let create = "mutation upsertDeployment($workspaceUuid: Uuid, $clusterId: Uuid, $label: String, $releaseName: String, $namespace: String, $runtimeVersion: String, $executor: ExecutorType, $triggererReplicas: Int, $dagDeployment: DagDeployment, $cloudRole: String, $mode: AllowedDeploymentModeValues) { upsertDeployment(workspaceUuid: $workspaceUuid, clusterId: $clusterId, label: $label, releaseName: $releaseName, namespace: $namespace, runtimeVersion: $runtimeVersion, executor: $executor, triggerer: {replicas: $triggererReplicas}, dagDeployment: $dagDeployment, cloudRole: $cloudRole, mode: $mode) { id type label releaseName version runtimeVersion urls { type url } createdAt updatedAt } }";
    let body = app
        .gql(
            create,
            json!({"workspaceUuid": workspace, "clusterId": "", "label": "etl", "releaseName": "", "namespace": "", "runtimeVersion": "11.7.0",
                   "executor": "KubernetesExecutor", "triggererReplicas": null, "dagDeployment": {"type": "dag_deploy"}, "cloudRole": "", "mode": "helm"}),
            token,
        )
        .await;
    ok(&body, "upsertDeployment (create)");
    let created = &body["data"]["upsertDeployment"];
    assert_eq!(created["runtimeVersion"], "11.7.0");
    let id = created["id"].as_str().unwrap().to_owned();
    let release = created["releaseName"].as_str().unwrap().to_owned();

    let update = "mutation upsertDeployment($deploymentUuid: Uuid!, $label: String, $description: String, $executor: ExecutorType, $triggererReplicas: Int, $dagDeployment: DagDeployment, $cloudRole: String) { upsertDeployment(deploymentUuid: $deploymentUuid, label: $label, description: $description, executor: $executor, triggerer: {replicas: $triggererReplicas}, dagDeployment: $dagDeployment, cloudRole: $cloudRole) { id type label releaseName version runtimeVersion urls { type url } createdAt updatedAt } }";
    let body = app
        .gql(update, json!({"deploymentUuid": id, "label": "etl-2", "description": "d", "executor": "CeleryExecutor", "triggererReplicas": null, "dagDeployment": {"type": "image"}, "cloudRole": ""}), token)
        .await;
    ok(&body, "upsertDeployment (update)");
    assert_eq!(body["data"]["upsertDeployment"]["label"], "etl-2");

    let deploy = "mutation upsertDeployment($releaseName: String!, $image: String!, $runtimeVersion: String!) { upsertDeployment(releaseName: $releaseName, image: $image, runtimeVersion: $runtimeVersion) { id releaseName runtimeVersion } }";
    let image = format!("registry.localhost/{release}/airflow:deploy-7");
    let body =
        app.gql(deploy, json!({"releaseName": release, "image": image, "runtimeVersion": "12.4.0"}), token).await;
    ok(&body, "upsertDeployment (image deploy)");
    assert_eq!(body["data"]["upsertDeployment"]["runtimeVersion"], "12.4.0", "the runtime moved with the image");
    let info = app.gql("query($w: Uuid!) { workspaceDeployments(workspaceUuid: $w) { executor dagDeployEnabled deployInfo { current nextCli } } }", json!({"w": workspace}), token).await;
    let d = &info["data"]["workspaceDeployments"][0];
    assert_eq!(d["deployInfo"], json!({"current": "deploy-7", "nextCli": "deploy-8"}));
    assert_eq!((d["executor"].as_str(), d["dagDeployEnabled"].as_bool()), (Some("CeleryExecutor"), Some(false)));

    // Upgrade and deploy are one change: a refused deploy leaves the runtime where it was.
    a_refused_deploy_upgrades_nothing(&app, token, &id, &release, deploy).await;
}

async fn a_refused_deploy_upgrades_nothing(app: &TestApp, token: Option<&str>, id: &str, release: &str, deploy: &str) {
    app.gql(
        "mutation($d: Uuid!) { updateDeployment(deploymentUuid: $d, settings: {enforceCicd: true}) { id } }",
        json!({"d": id}),
        token,
    )
    .await;
    let image = format!("registry.localhost/{release}/airflow:deploy-9");
    let body =
        app.gql(deploy, json!({"releaseName": release, "image": image, "runtimeVersion": "10.6.0"}), token).await;
    assert_eq!(crate::common::error_code(&body), "FORBIDDEN", "{body}");
    let after =
        app.gql("query($d: String!) { deployment(where: {id: $d}) { runtimeVersion } }", json!({"d": id}), token).await;
    assert_eq!(after["data"]["deployment"]["runtimeVersion"], "12.4.0", "{after}");
}

// A CLI user's day, every request written exactly as the CLI writes it (the documents of
// `cli_documents`), sent over HTTP with the token bare in `Authorization`.

/// Asserts that `value` has exactly the fields `selection` asks for (aliases as keys), at every level;
/// lists are checked item by item and null stands for any nullable field.
fn assert_shape(selection: &[Selection], value: &Value, path: &str) {
    match value {
        Value::Null => {}
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                assert_shape(selection, item, &format!("{path}[{index}]"));
            }
        }
        Value::Object(object) => {
            let mut expected: Vec<&str> = Vec::new();
            for item in selection {
                let Selection::Field(field) = item else { panic!("{path}: the CLI sends no fragments") };
                let key = field.alias.as_ref().unwrap_or(&field.name).as_str();
                expected.push(key);
                if !field.selection_set.is_empty() {
                    let inner = object.get(key).unwrap_or_else(|| panic!("{path}.{key} missing: {value}"));
                    assert_shape(&field.selection_set, inner, &format!("{path}.{key}"));
                }
            }
            let mut got: Vec<&str> = object.keys().map(String::as_str).collect();
            expected.sort_unstable();
            got.sort_unstable();
            assert_eq!(got, expected, "{path}: fields of {value}");
        }
        other => panic!("{path}: an object was selected, got {other}"),
    }
}

/// The selection set of the document's operation.
fn selection_of(document: &str) -> Vec<Selection> {
    let ast = Document::parse(document, "cli.graphql").unwrap_or_else(|e| panic!("{document}: {}", e.errors));
    ast.definitions
        .iter()
        .find_map(|d| match d {
            Definition::OperationDefinition(operation) => Some(operation.selection_set.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no operation in {document}"))
}

/// Sends `document` as the CLI does and returns its one root field's value, after checking that the
/// answer has no `errors` (absent or null, never `[]`) and exactly the selected shape.
async fn cli(app: &TestApp, document: &str, variables: Value, token: Option<&str>) -> Value {
    let body = app.gql(document, variables, token).await;
    assert!(body.get("errors").is_none_or(Value::is_null), "{document}: {body}");
    assert_shape(&selection_of(document), &body["data"], "data");
    let data = body["data"].as_object().unwrap_or_else(|| panic!("{document}: {body}"));
    data.values().next().cloned().unwrap_or(Value::Null)
}

/// Sends `document` as a caller who may not, and checks what the CLI prints (`errors[0].message`).
async fn refused(app: &TestApp, document: &str, variables: Value, token: Option<&str>) {
    let body = app.gql(document, variables, token).await;
    assert_eq!(body["errors"][0]["message"], "Access is Denied", "{document}: {body}");
    assert!(body["data"].is_null() || body["data"].as_object().is_some_and(|d| d.values().all(Value::is_null)));
}

/// A refused input: BAD_USER_INPUT naming the argument.
async fn bad_input(app: &TestApp, document: &str, variables: Value, token: Option<&str>, field: &str) {
    let body = app.gql(document, variables, token).await;
    assert_eq!(crate::common::error_code(&body), "BAD_USER_INPUT", "{document}: {body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("a list: {list}"))
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

fn id(value: &Value) -> String {
    value["id"].as_str().unwrap_or_else(|| panic!("an id: {value}")).to_owned()
}

#[tokio::test]
async fn a_cli_users_day() {
    let app = TestApp::spawn_with(|config| config.public_signups = true).await;

    // `astro login`: the server's API level, how to sign in, then the account and a token.
    assert_eq!(cli(&app, doc::APP_CONFIG, json!({}), None).await["version"], "2.1.0");
    let ids_unset = json!({"clusterId": "", "workspaceUuid": "", "deploymentUuid": ""});
    assert_eq!(cli(&app, doc::APP_CONFIG_FOR, ids_unset, None).await["featureFlags"]["astroRuntimeEnabled"], true);
    assert_eq!(cli(&app, doc::AUTH_CONFIG, json!({"redirect": ""}), None).await["localEnabled"], true);
    let mut people = Vec::new();
    for name in ["ada", "bob", "carol", "dave", "erin", "frank"] {
        let variables = json!({"email": format!("{name}@example.com"), "password": "correct horse battery", "username": name, "inviteToken": ""});
        let created = cli(&app, doc::CREATE_USER, variables, None).await;
        assert_eq!(created["user"]["username"], name);
        people.push(id(&created["user"]));
    }
    let login = json!({"identity": "ada@example.com", "password": "correct horse battery"});
    let session = cli(&app, doc::CREATE_TOKEN, login, None).await;
    let ada = session["token"]["value"].as_str().unwrap().to_owned();
    let ada = Some(ada.as_str());
    // The first three accounts own the organization; frank is a plain member.
    let frank = app.sign_in("frank", "correct horse battery").await["data"]["createToken"]["token"]["value"]
        .as_str()
        .unwrap()
        .to_owned();
    let frank = Some(frank.as_str());

    // A workspace and its people.
    let workspace = id(&cli(&app, doc::CREATE_WORKSPACE, json!({"label": "Data", "description": "ETL"}), ada).await);
    for name in ["bob", "carol", "dave", "erin", "frank"] {
        let variables =
            json!({"workspaceUuid": workspace, "email": format!("{name}@example.com"), "role": "WORKSPACE_VIEWER"});
        cli(&app, doc::WORKSPACE_ADD_USER, variables, ada).await;
    }
    let promoted = json!({"workspaceUuid": workspace, "email": "bob@example.com", "role": "WORKSPACE_EDITOR"});
    assert_eq!(cli(&app, doc::WORKSPACE_UPSERT_USER_ROLE, promoted, ada).await, "WORKSPACE_EDITOR");
    let everyone = ids(&cli(&app, doc::WORKSPACE_USERS, json!({"workspaceUuid": workspace}), ada).await);
    assert_eq!(everyone, people, "members by username");
    let bob =
        cli(&app, doc::WORKSPACE_USER, json!({"workspaceUuid": workspace, "email": "bob@example.com"}), ada).await;
    let here = bob["roleBindings"].as_array().unwrap().iter().find(|b| b["workspace"]["id"] == workspace.as_str());
    assert_eq!(here.map(|b| b["role"].clone()), Some(json!("WORKSPACE_EDITOR")), "{bob}");

    // The pager: forwards from the first page, back, and forwards again.
    let page = |cursor: &str, take: i32| json!({"workspaceUuid": workspace, "cursor": cursor, "take": take});
    let first = ids(&cli(&app, doc::PAGINATED_WORKSPACE_USERS, page("", 2), ada).await);
    let second = ids(&cli(&app, doc::PAGINATED_WORKSPACE_USERS, page(&first[1], 2), ada).await);
    let third = ids(&cli(&app, doc::PAGINATED_WORKSPACE_USERS, page(&second[1], 2), ada).await);
    assert_eq!([first.clone(), second.clone(), third.clone()].concat(), everyone);
    let back = ids(&cli(&app, doc::PAGINATED_WORKSPACE_USERS, page(&third[0], -2), ada).await);
    assert_eq!(back, second, "back one page, in forward order");
    let back = ids(&cli(&app, doc::PAGINATED_WORKSPACE_USERS, page(&back[0], -2), ada).await);
    assert_eq!(back, first);
    assert!(cli(&app, doc::PAGINATED_WORKSPACE_USERS, page(&first[0], -2), ada).await.as_array().unwrap().is_empty());
    assert_eq!(ids(&cli(&app, doc::PAGINATED_WORKSPACE_USERS, page(&first[1], 2), ada).await), second);

    // Deployments: the catalogue, one created in a namespace of the cluster's pool, one by default.
    let releases = cli(&app, doc::RUNTIME_RELEASES, json!({"airflowVersion": "", "clusterId": ""}), ada).await;
    assert!(releases.as_array().unwrap().iter().any(|r| r["version"] == "12.4.0"));
    cli(&app, doc::DEPLOYMENT_CONFIG, json!({}), ada).await;
    let cluster = app.text("SELECT id::text AS t FROM clusters WHERE name = 'default'").await;
    let pool = app
        .gql(
            "mutation($c: Uuid!) { updateCluster(clusterUuid: $c, namespaces: [\"team-a\", \"team-b\", \"team-c\"]) { namespaces } }",
            json!({"c": cluster}),
            ada,
        )
        .await;
    assert_eq!(pool["data"]["updateCluster"]["namespaces"], json!(["team-a", "team-b", "team-c"]), "{pool}");
    let free = |list: Value| {
        list.as_array().unwrap().iter().map(|n| n["name"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
    };
    assert_eq!(
        free(cli(&app, doc::AVAILABLE_NAMESPACES, json!({"clusterId": cluster}), ada).await),
        ["team-a", "team-b", "team-c"]
    );
    // With a pool, the CLI offers its namespaces when creating a deployment on that cluster.
    let flags = |cluster: &str| json!({"clusterId": cluster, "workspaceUuid": workspace, "deploymentUuid": ""});
    let config = cli(&app, doc::APP_CONFIG_FOR, flags(&cluster), ada).await;
    assert_eq!(config["featureFlags"]["manualNamespaceNames"], true);
    let config = cli(&app, doc::APP_CONFIG_FOR, flags(""), ada).await;
    assert_eq!(config["featureFlags"]["manualNamespaceNames"], false);
    let create = |label: &str, namespace: &str| {
        json!({"workspaceUuid": workspace, "clusterId": cluster, "label": label, "releaseName": "", "namespace": namespace,
               "runtimeVersion": "11.7.0", "executor": "CeleryExecutor", "triggererReplicas": null,
               "dagDeployment": {"type": "image", "nfsLocation": "", "sshKey": "", "knownHosts": "", "rev": "", "repositoryUrl": "", "branchName": "", "dagDirectoryLocation": "", "syncInterval": 0},
               "cloudRole": "", "mode": "helm"})
    };
    let etl = cli(&app, doc::UPSERT_DEPLOYMENT_CREATE, create("etl", "team-b"), ada).await;
    let (etl_id, etl_release) = (id(&etl), etl["releaseName"].as_str().unwrap().to_owned());
    assert_eq!(
        free(cli(&app, doc::AVAILABLE_NAMESPACES, json!({"clusterId": cluster}), ada).await),
        ["team-a", "team-c"]
    );
    let urls: Vec<&str> = etl["urls"].as_array().unwrap().iter().map(|u| u["type"].as_str().unwrap()).collect();
    assert!(urls.contains(&"airflow") && urls.contains(&"flower"), "{urls:?}");
    let reports = id(&cli(&app, doc::UPSERT_DEPLOYMENT_CREATE, create("reports", ""), ada).await);
    let ml = id(&cli(&app, doc::UPSERT_DEPLOYMENT_CREATE, create("ml", ""), ada).await);
    let listed =
        cli(&app, doc::WORKSPACE_DEPLOYMENTS, json!({"workspaceUuid": workspace, "releaseName": etl_release}), ada)
            .await;
    assert_eq!(ids(&listed), [etl_id.as_str()]);
    let one = cli(&app, doc::DEPLOYMENT, json!({"id": etl_id}), ada).await;
    assert_eq!(
        (one["runtimeVersion"].as_str(), one["runtimeAirflowVersion"].as_str()),
        (Some("11.7.0"), Some("2.9.3"))
    );
    let update = json!({"deploymentUuid": etl_id, "label": "etl", "description": "nightly", "executor": "CeleryExecutor", "triggererReplicas": null, "dagDeployment": {"type": "image"}, "cloudRole": ""});
    cli(&app, doc::UPSERT_DEPLOYMENT_UPDATE, update, ada).await;

    // Paging deployments both ways.
    let all =
        ids(&cli(&app, doc::PAGINATED_DEPLOYMENTS, json!({"take": 10, "cursor": "", "pageNumber": 1}), ada).await);
    assert_eq!(all.len(), 3);
    let deployments_page =
        |cursor: &str, take: i32| json!({"take": take, "name": "", "cursor": cursor, "pageNumber": 0, "clusterId": ""});
    let first = ids(&cli(&app, doc::PAGINATED_DEPLOYMENTS, deployments_page("", 2), ada).await);
    let rest = ids(&cli(&app, doc::PAGINATED_DEPLOYMENTS, deployments_page(&first[1], 2), ada).await);
    assert_eq!([first.clone(), rest.clone()].concat(), all);
    assert_eq!(ids(&cli(&app, doc::PAGINATED_DEPLOYMENTS, deployments_page(&rest[0], -2), ada).await), first);

    // Runtime upgrades: a later version is requested, an older one refused, a request cancelled.
    let runtime = |version: &str| json!({"deploymentUuid": etl_id, "desiredRuntimeVersion": version});
    bad_input(&app, doc::UPDATE_DEPLOYMENT_RUNTIME, runtime("10.6.0"), ada, "desiredRuntimeVersion").await;
    bad_input(&app, doc::UPDATE_DEPLOYMENT_RUNTIME, runtime("99.0.0"), ada, "desiredRuntimeVersion").await;
    let requested = cli(&app, doc::UPDATE_DEPLOYMENT_RUNTIME, runtime("12.4.0"), ada).await;
    assert_eq!(
        (requested["runtimeVersion"].as_str(), requested["desiredRuntimeVersion"].as_str()),
        (Some("11.7.0"), Some("12.4.0"))
    );
    let cancelled = cli(&app, doc::CANCEL_RUNTIME_UPDATE, json!({"deploymentUuid": etl_id}), ada).await;
    assert_eq!(
        (cancelled["runtimeVersion"].as_str(), cancelled["desiredRuntimeVersion"].clone()),
        (Some("11.7.0"), Value::Null)
    );
    bad_input(&app, doc::CANCEL_RUNTIME_UPDATE, json!({"deploymentUuid": etl_id}), ada, "deploymentUuid").await;
    let airflow = |version: &str| json!({"deploymentUuid": etl_id, "desiredAirflowVersion": version});
    bad_input(&app, doc::UPDATE_DEPLOYMENT_AIRFLOW, airflow("2.8.4"), ada, "desiredAirflowVersion").await;
    assert_eq!(
        cli(&app, doc::UPDATE_DEPLOYMENT_AIRFLOW, airflow("2.10.3"), ada).await["desiredAirflowVersion"],
        "2.10.3"
    );

    // Deploying an image of the requested runtime applies the request.
    cli(&app, doc::UPDATE_DEPLOYMENT_RUNTIME, runtime("12.4.0"), ada).await;
    let image = json!({"releaseName": etl_release, "image": format!("registry.localhost/{etl_release}/airflow:deploy-1"), "runtimeVersion": "12.4.0"});
    assert_eq!(cli(&app, doc::UPSERT_DEPLOYMENT_IMAGE, image, ada).await["runtimeVersion"], "12.4.0");
    let after = app.gql("query($d: String!) { deployment(where: {id: $d}) { desiredRuntimeVersion deployInfo { current nextCli } } }", json!({"d": etl_id}), ada).await;
    assert_eq!(
        after["data"]["deployment"],
        json!({"desiredRuntimeVersion": null, "deployInfo": {"current": "deploy-1", "nextCli": "deploy-2"}})
    );

    // Deployment users, found with the CLI's all-empty search and by address.
    let grant = json!({"userId": "", "email": "bob@example.com", "deploymentId": etl_id, "role": "DEPLOYMENT_VIEWER"});
    assert_eq!(cli(&app, doc::DEPLOYMENT_ADD_USER_ROLE, grant, ada).await["role"], "DEPLOYMENT_VIEWER");
    let change = json!({"userId": "", "email": "bob@example.com", "deploymentId": etl_id, "role": "DEPLOYMENT_EDITOR"});
    assert_eq!(cli(&app, doc::DEPLOYMENT_UPDATE_USER_ROLE, change, ada).await["deployment"]["id"], etl_id.as_str());
    let search = |email: &str| json!({"deploymentId": etl_id, "user": {"userId": "", "email": email, "fullName": ""}});
    assert_eq!(ids(&cli(&app, doc::DEPLOYMENT_USERS, search(""), ada).await), [people[0].clone(), people[1].clone()]);
    assert_eq!(ids(&cli(&app, doc::DEPLOYMENT_USERS, search("bob@"), ada).await), [people[1].clone()]);
    let removal = json!({"userId": "", "email": "bob@example.com", "deploymentId": etl_id});
    assert_eq!(cli(&app, doc::DEPLOYMENT_REMOVE_USER_ROLE, removal, ada).await["role"], "DEPLOYMENT_EDITOR");

    // Teams, at each scope the CLI manages them.
    let mut teams = Vec::new();
    for name in ["Analysts", "Engineers", "Ops"] {
        let made = app.gql("mutation($n: String!) { createTeam(name: $n) { id } }", json!({"n": name}), ada).await;
        teams.push(made["data"]["createTeam"]["id"].as_str().unwrap_or_else(|| panic!("{made}")).to_owned());
    }
    let team = teams[0].clone();
    app.gql(
        "mutation($t: Uuid!, $u: Uuid!) { teamAddUser(teamUuid: $t, userUuid: $u) { id } }",
        json!({"t": team, "u": people[3]}),
        ada,
    )
    .await;
    let added = json!({"workspaceUuid": workspace, "teamUuid": team, "role": "WORKSPACE_VIEWER", "deploymentRoles": [{"deploymentId": reports, "role": "DEPLOYMENT_VIEWER"}]});
    assert_eq!(id(&cli(&app, doc::WORKSPACE_ADD_TEAM, added, ada).await), workspace);
    let role = json!({"workspaceUuid": workspace, "teamUuid": team, "role": "WORKSPACE_EDITOR"});
    assert_eq!(cli(&app, doc::WORKSPACE_UPDATE_TEAM_ROLE, role, ada).await, "WORKSPACE_EDITOR");
    assert_eq!(ids(&cli(&app, doc::WORKSPACE_TEAMS, json!({"workspaceUuid": workspace}), ada).await), [team.as_str()]);
    let shown = cli(&app, doc::TEAM, json!({"teamUuid": team, "workspaceUuid": workspace}), ada).await;
    assert_eq!(shown["name"], "Analysts");
    let members = cli(&app, doc::TEAM_USERS, json!({"teamUuid": team}), ada).await;
    assert_eq!(members[0]["username"], "dave");
    let on_ml = |role: &str| json!({"teamUuid": team, "deploymentUuid": ml, "role": role});
    assert_eq!(
        cli(&app, doc::DEPLOYMENT_ADD_TEAM_ROLE, on_ml("DEPLOYMENT_VIEWER"), ada).await["role"],
        "DEPLOYMENT_VIEWER"
    );
    assert_eq!(
        cli(&app, doc::DEPLOYMENT_UPDATE_TEAM_ROLE, on_ml("DEPLOYMENT_EDITOR"), ada).await["role"],
        "DEPLOYMENT_EDITOR"
    );
    assert_eq!(ids(&cli(&app, doc::DEPLOYMENT_TEAMS, json!({"deploymentUuid": ml}), ada).await), [team.as_str()]);
    cli(&app, doc::DEPLOYMENT_REMOVE_TEAM_ROLE, json!({"deploymentUuid": ml, "teamUuid": team}), ada).await;
    let system = json!({"teamUuid": team, "role": "SYSTEM_VIEWER"});
    assert_eq!(cli(&app, doc::CREATE_TEAM_SYSTEM_ROLE_BINDING, system.clone(), ada).await["role"], "SYSTEM_VIEWER");
    assert_eq!(cli(&app, doc::DELETE_TEAM_SYSTEM_ROLE_BINDING, system, ada).await["role"], "SYSTEM_VIEWER");
    // The CLI's team pager loops until it has `count` teams, forwards; and it can go back.
    let teams_page = |cursor: &str, take: i32| json!({"take": take, "cursor": cursor, "workspaceUuid": ""});
    let first = cli(&app, doc::PAGINATED_TEAMS, teams_page("", 2), ada).await;
    let count = first["count"].as_i64().unwrap();
    let mut walked = ids(&first["teams"]);
    while (walked.len() as i64) < count {
        let next = ids(&cli(&app, doc::PAGINATED_TEAMS, teams_page(walked.last().unwrap(), 2), ada).await["teams"]);
        assert!(!next.is_empty(), "the walk ends at count");
        walked.extend(next);
    }
    assert_eq!((count, walked.len()), (3, 3));
    let back = cli(&app, doc::PAGINATED_TEAMS, teams_page(&walked[2], -2), ada).await;
    assert_eq!(ids(&back["teams"]), walked[..2]);
    let left = cli(&app, doc::WORKSPACE_REMOVE_TEAM, json!({"workspaceUuid": workspace, "teamUuid": team}), ada).await;
    assert_eq!(id(&left), workspace);

    // Service accounts at each scope; a key works bare in `Authorization`, as the CLI sends it.
    let key = json!({"label": "ci", "category": "", "workspaceUuid": workspace, "role": "WORKSPACE_EDITOR"});
    let account = cli(&app, doc::CREATE_WORKSPACE_SERVICE_ACCOUNT, key, ada).await;
    let api_key = account["apiKey"].as_str().unwrap().to_owned();
    let seen =
        cli(&app, doc::WORKSPACE_DEPLOYMENTS, json!({"workspaceUuid": workspace, "releaseName": ""}), Some(&api_key))
            .await;
    assert_eq!(seen.as_array().map(Vec::len), Some(3));
    assert_eq!(
        ids(&cli(&app, doc::WORKSPACE_SERVICE_ACCOUNTS, json!({"workspaceUuid": workspace}), ada).await),
        [id(&account)]
    );
    let gone = json!({"serviceAccountUuid": id(&account), "workspaceUuid": workspace});
    cli(&app, doc::DELETE_WORKSPACE_SERVICE_ACCOUNT, gone, ada).await;
    let key = json!({"label": "deployer", "category": "", "deploymentUuid": etl_id, "role": "DEPLOYMENT_EDITOR"});
    let account = cli(&app, doc::CREATE_DEPLOYMENT_SERVICE_ACCOUNT, key, ada).await;
    assert_eq!(account["deploymentUuid"], etl_id.as_str());
    assert_eq!(
        ids(&cli(&app, doc::DEPLOYMENT_SERVICE_ACCOUNTS, json!({"deploymentUuid": etl_id}), ada).await),
        [id(&account)]
    );
    let gone = json!({"serviceAccountUuid": id(&account), "deploymentUuid": etl_id});
    cli(&app, doc::DELETE_DEPLOYMENT_SERVICE_ACCOUNT, gone, ada).await;

    // Adopting an Airflow that runs in a namespace of the pool, and letting it go again.
    let adopt = json!({"workspaceUuid": workspace, "clusterId": cluster, "crNamespace": "team-a", "crName": "legacy-airflow", "label": "", "description": "", "useApcLogging": false, "useApcRegistry": true, "acceptIncompatibilities": true});
    let adopted = cli(&app, doc::ADOPT_DEPLOYMENT, adopt.clone(), ada).await;
    assert_eq!(
        (adopted["releaseName"].as_str(), adopted["namespace"].as_str(), adopted["label"].as_str()),
        (Some("legacy-airflow"), Some("team-a"), Some("legacy-airflow"))
    );
    assert_eq!(adopted["workspace"]["id"], workspace.as_str());
    assert_eq!(free(cli(&app, doc::AVAILABLE_NAMESPACES, json!({"clusterId": cluster}), ada).await), ["team-c"]);
    let again = app.gql(doc::ADOPT_DEPLOYMENT, adopt.clone(), ada).await;
    assert_eq!(crate::common::error_code(&again), "CONFLICT", "{again}");
    let released = cli(&app, doc::UNADOPT_DEPLOYMENT, json!({"deploymentUuid": id(&adopted)}), ada).await;
    assert_eq!(released["releaseName"], "legacy-airflow");
    assert_eq!(
        free(cli(&app, doc::AVAILABLE_NAMESPACES, json!({"clusterId": cluster}), ada).await),
        ["team-a", "team-c"]
    );
    assert_eq!(cli(&app, doc::ADOPT_DEPLOYMENT, adopt, ada).await["releaseName"], "legacy-airflow", "adoptable again");

    // A viewer is told, in words the CLI prints, what it may not do; nothing changes.
    let before = app.deployment_snapshot().await;
    refused(&app, doc::UPSERT_DEPLOYMENT_CREATE, create("mine", ""), frank).await;
    refused(&app, doc::UPDATE_DEPLOYMENT_RUNTIME, runtime("12.4.0"), frank).await;
    refused(&app, doc::CANCEL_RUNTIME_UPDATE, json!({"deploymentUuid": etl_id}), frank).await;
    refused(&app, doc::DELETE_DEPLOYMENT, json!({"deploymentUuid": etl_id, "deploymentHardDelete": false}), frank)
        .await;
    let adopt = json!({"workspaceUuid": workspace, "clusterId": cluster, "crNamespace": "team-c", "crName": "mine"});
    refused(&app, doc::ADOPT_DEPLOYMENT, adopt, frank).await;
    refused(&app, doc::UNADOPT_DEPLOYMENT, json!({"deploymentUuid": ml}), frank).await;
    let key = json!({"label": "mine", "category": "", "workspaceUuid": workspace, "role": "WORKSPACE_VIEWER"});
    refused(&app, doc::CREATE_WORKSPACE_SERVICE_ACCOUNT, key, frank).await;
    assert_eq!(app.deployment_snapshot().await, before, "refused requests change nothing");
    let body = app.gql(doc::WORKSPACES, json!({}), Some("not-a-token")).await;
    assert_eq!(body["errors"][0]["message"], "Your token has expired or is invalid. Please log in again.", "{body}");

    // Logs are not kept: a clear error, not a fake list.
    let logs = app
        .gql(
            doc::LOGS,
            json!({"deploymentUuid": etl_id, "component": "scheduler", "timestamp": null, "search": ""}),
            ada,
        )
        .await;
    assert_eq!(crate::common::error_code(&logs), "NOT_SUPPORTED");

    // The end of the day: deployments and the workspace go. Current CLIs always hard-delete; older ones
    // sent `false` and soft-delete.
    for (deployment, hard) in [(etl_id.as_str(), true), (reports.as_str(), true), (ml.as_str(), false)] {
        let deleted =
            cli(&app, doc::DELETE_DEPLOYMENT, json!({"deploymentUuid": deployment, "deploymentHardDelete": hard}), ada)
                .await;
        assert_eq!(deleted["id"], deployment);
        let rows = app.count(&format!("SELECT count(*) AS n FROM deployments WHERE id = '{deployment}'")).await;
        assert_eq!(rows, if hard { 0 } else { 1 });
    }
    let adopted = app.text("SELECT id::text AS t FROM deployments WHERE release_name = 'legacy-airflow'").await;
    cli(&app, doc::UNADOPT_DEPLOYMENT, json!({"deploymentUuid": adopted}), ada).await;
    let left =
        cli(&app, doc::WORKSPACE_REMOVE_USER, json!({"workspaceUuid": workspace, "userUuid": people[5]}), ada).await;
    assert!(!ids(&left["users"]).contains(&people[5]));
    cli(&app, doc::UPDATE_WORKSPACE, json!({"workspaceUuid": workspace, "payload": {"label": "Data (old)"}}), ada)
        .await;
    cli(&app, doc::WORKSPACE_WITH_ROLES, json!({"workspaceUuid": workspace}), ada).await;
    cli(&app, doc::WORKSPACE, json!({"workspaceUuid": workspace}), ada).await;
    cli(&app, doc::WORKSPACES, json!({}), ada).await;
    cli(&app, doc::PAGINATED_WORKSPACES, json!({"take": 10, "pageNumber": 1}), ada).await;
    assert_eq!(id(&cli(&app, doc::DELETE_WORKSPACE, json!({"workspaceUuid": workspace}), ada).await), workspace);
}

/// Houston answered `null` for a workspace or deployment id that names nothing, and the CLI reads that
/// null ("no workspaces with id … found"). Callers who may read every workspace or deployment get the
/// null; everyone else gets FORBIDDEN whether or not the object exists, so nothing is revealed.
#[tokio::test]
async fn a_missing_workspace_or_deployment_is_null_for_those_who_may_read_all_and_forbidden_otherwise() {
    let app = TestApp::spawn_with(|config| config.public_signups = true).await;
    let root = app.with_owners().await;
    let (auditor, auditor_id) = app.sign_up("auditor@example.com", "correct horse battery").await;
    let granted = app.grant_system_role(&root, &auditor_id, "SYSTEM_VIEWER").await;
    assert!(granted.get("errors").is_none(), "{granted}");
    let (stranger, _) = app.sign_up("stranger@example.com", "correct horse battery").await;
    let workspace = app.create_workspace(&root, "Data").await;
    let deployment = app.create_deployment(&root, &workspace, "etl").await["id"].as_str().unwrap().to_owned();
    let gone = app.create_deployment(&root, &workspace, "old").await["id"].as_str().unwrap().to_owned();
    let body = app
        .gql(doc::DELETE_DEPLOYMENT, json!({"deploymentUuid": gone, "deploymentHardDelete": true}), Some(&root))
        .await;
    ok(&body, "hard delete");
    let missing = uuid::Uuid::new_v4().to_string();

    for token in [root.as_str(), auditor.as_str()] {
        for id in [missing.as_str(), gone.as_str()] {
            let body = app.gql(doc::WORKSPACE, json!({"workspaceUuid": id}), Some(token)).await;
            assert_eq!(body, json!({"data": {"workspace": null}}));
            let body = app.gql(doc::DEPLOYMENT, json!({"id": id}), Some(token)).await;
            assert_eq!(body, json!({"data": {"deployment": null}}));
        }
        let body = app.gql(doc::WORKSPACE, json!({"workspaceUuid": workspace}), Some(token)).await;
        assert_eq!(body["data"]["workspace"]["id"], workspace.as_str(), "{body}");
        let body = app.gql(doc::DEPLOYMENT, json!({"id": deployment}), Some(token)).await;
        assert_eq!(body["data"]["deployment"]["id"], deployment.as_str(), "{body}");
    }
    // A member who may read neither: the same FORBIDDEN for what exists and for what does not.
    let answers: Vec<Value> =
        answers_to_reads(&app, &stranger, &[&workspace, &missing], &[&deployment, &gone, &missing]).await;
    for body in &answers {
        assert_eq!(crate::common::error_code(body), "FORBIDDEN", "{body}");
        assert_eq!(body["errors"][0]["message"], "Access is Denied");
        assert_eq!(body["data"], Value::Null, "{body}");
    }
}

async fn answers_to_reads(app: &TestApp, token: &str, workspaces: &[&str], deployments: &[&str]) -> Vec<Value> {
    let mut answers = Vec::new();
    for id in workspaces {
        answers.push(app.gql(doc::WORKSPACE, json!({"workspaceUuid": id}), Some(token)).await);
    }
    for id in deployments {
        answers.push(app.gql(doc::DEPLOYMENT, json!({"id": id}), Some(token)).await);
    }
    answers
}
