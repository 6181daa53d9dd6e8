//! The `astro` CLI's documents (as listed in the client operations contract) validate and execute with
//! correctly shaped data. Tokens are sent without `Bearer`, unused variables are sent anyway.

use serde_json::{Value, json};

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
