//! Deployments: defaults, settings and their validation, release names, soft deletion, deployment roles,
//! constant statement counts.

use std::sync::atomic::Ordering;

use serde_json::{Value, json};

use crate::common::{TestApp, error_code};

const DEPLOYMENT_FIELDS: &str = "id label releaseName namespace airflowVersion runtimeVersion executor schedulerSize \
    schedulerReplicas workerMin workerMax workerConcurrency highAvailability enforceCicd dagDeployEnabled \
    dagDeployment { type } urls { type url } deployInfo { current nextCli } airflowRole \
    roleBindings { role user { username } } workspace { id } createdAt updatedAt";

async fn setup() -> (TestApp, String, String) {
    let app = TestApp::spawn_with(|config| config.public_signups = true).await;
    let root = app.with_owners().await;
    let workspace = app.create_workspace(&root, "Data").await;
    (app, root, workspace)
}

fn is_generated_release_name(name: &str) -> bool {
    let parts: Vec<&str> = name.split('-').collect();
    parts.len() == 3
        && parts[0].chars().all(|c| c.is_ascii_lowercase())
        && parts[1].chars().all(|c| c.is_ascii_lowercase())
        && parts[2].len() == 4
        && parts[2].chars().all(|c| c.is_ascii_digit())
}

#[tokio::test]
async fn a_new_deployment_gets_the_spec_defaults() {
    let (app, root, workspace) = setup().await;
    let body = app
        .gql(
            &format!("mutation($w: Uuid!) {{ createDeployment(workspaceUuid: $w, label: \"etl\") {{ {DEPLOYMENT_FIELDS} }} }}"),
            json!({"w": workspace}),
            Some(&root),
        )
        .await;
    let d = &body["data"]["createDeployment"];
    assert!(is_generated_release_name(d["releaseName"].as_str().unwrap_or_default()), "{body}");
    assert_eq!(d["namespace"], format!("astronomer-{}", d["releaseName"].as_str().unwrap()));
    assert_eq!(d["executor"], "CeleryExecutor");
    assert_eq!(d["schedulerSize"], "SMALL");
    assert_eq!(d["schedulerReplicas"], 1);
    assert_eq!(
        (d["workerMin"].as_i64(), d["workerMax"].as_i64(), d["workerConcurrency"].as_i64()),
        (Some(0), Some(10), Some(5))
    );
    assert_eq!(
        (d["highAvailability"].as_bool(), d["enforceCicd"].as_bool(), d["dagDeployEnabled"].as_bool()),
        (Some(false), Some(false), Some(false))
    );
    assert_eq!(d["dagDeployment"]["type"], "image");
    let config =
        app.gql("{ deploymentConfig { defaultRuntimeVersion defaultAirflowVersion } }", json!({}), Some(&root)).await;
    assert_eq!(d["runtimeVersion"], config["data"]["deploymentConfig"]["defaultRuntimeVersion"]);
    assert_eq!(d["airflowVersion"], config["data"]["deploymentConfig"]["defaultAirflowVersion"]);
    let url_types: Vec<&str> = d["urls"].as_array().unwrap().iter().map(|u| u["type"].as_str().unwrap()).collect();
    assert_eq!(url_types, ["airflow", "flower", "registry", "dagserver"]);
    assert_eq!(d["deployInfo"], json!({"current": null, "nextCli": "deploy-1"}));
    assert_eq!(d["airflowRole"], "Admin");
    assert_eq!(
        d["roleBindings"],
        json!([{"role": "DEPLOYMENT_ADMIN", "user": {"username": "root@example.com"}}]),
        "creator is admin"
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'deployment.create'").await, 1);
}

#[tokio::test]
async fn settings_change_and_deletion_is_soft() {
    let (app, root, workspace) = setup().await;
    let created = app.create_deployment(&root, &workspace, "etl").await;
    let id = created["id"].as_str().unwrap().to_owned();
    let release = created["releaseName"].as_str().unwrap().to_owned();

    let body = app
        .gql(
            "mutation($d: Uuid!) { updateDeployment(deploymentUuid: $d, payload: {label: \"etl-v2\"}, settings: {executor: KubernetesExecutor, highAvailability: true, workerMax: 20, workerConcurrency: 16, schedulerSize: LARGE, dagDeployEnabled: true}) { label executor highAvailability schedulerReplicas workerMax workerConcurrency schedulerSize dagDeployment { type } urls { type } } }",
            json!({"d": id}),
            Some(&root),
        )
        .await;
    let d = &body["data"]["updateDeployment"];
    assert_eq!(d["label"], "etl-v2", "{body}");
    assert_eq!(d["executor"], "KubernetesExecutor");
    assert_eq!(d["highAvailability"], true);
    assert_eq!(d["schedulerReplicas"], 2, "high availability runs two schedulers");
    assert_eq!((d["workerMax"].as_i64(), d["workerConcurrency"].as_i64()), (Some(20), Some(16)));
    assert_eq!(d["dagDeployment"]["type"], "dag_deploy");
    assert!(!d["urls"].as_array().unwrap().iter().any(|u| u["type"] == "flower"), "flower only with Celery");

    // Houston's `config: {executor}` is still honoured.
    let body = app
        .gql("mutation($d: Uuid!) { updateDeployment(deploymentUuid: $d, config: {executor: \"LocalExecutor\"}) { executor } }", json!({"d": id}), Some(&root))
        .await;
    assert_eq!(body["data"]["updateDeployment"]["executor"], "LocalExecutor");

    let releases =
        app.gql("{ deploymentConfig { runtimeReleases { version airflowVersion } } }", json!({}), Some(&root)).await;
    let oldest = releases["data"]["deploymentConfig"]["runtimeReleases"][0].clone();
    let body = app
        .gql("mutation($d: Uuid!, $v: String!) { upgradeDeployment(deploymentUuid: $d, version: $v) { runtimeVersion airflowVersion } }", json!({"d": id, "v": oldest["version"]}), Some(&root))
        .await;
    assert_eq!(body["data"]["upgradeDeployment"]["airflowVersion"], oldest["airflowVersion"]);
    let bad = app
        .gql(
            "mutation($d: Uuid!) { upgradeDeployment(deploymentUuid: $d, version: \"0.0.1\") { id } }",
            json!({"d": id}),
            Some(&root),
        )
        .await;
    assert_eq!(error_code(&bad), "BAD_USER_INPUT");

    let body = app
        .gql("mutation($d: Uuid!) { deleteDeployment(deploymentUuid: $d) { id } }", json!({"d": id}), Some(&root))
        .await;
    assert_eq!(body["data"]["deleteDeployment"]["id"], id.as_str());
    let listed = app
        .gql(
            "query($w: Uuid!) { workspaceDeployments(workspaceUuid: $w) { id } }",
            json!({"w": workspace}),
            Some(&root),
        )
        .await;
    assert_eq!(listed["data"]["workspaceDeployments"], json!([]), "hidden from lists");
    assert_eq!(
        app.count(&format!("SELECT count(*) AS n FROM deployments WHERE release_name = '{release}'")).await,
        1,
        "name stays reserved"
    );
    let again = app
        .gql(
            "mutation($d: Uuid!) { updateDeployment(deploymentUuid: $d, payload: {label: \"x\"}) { id } }",
            json!({"d": id}),
            Some(&root),
        )
        .await;
    assert_eq!(error_code(&again), "NOT_FOUND", "{again}");
    let body = app
        .gql("mutation($w: Uuid!) { deleteWorkspace(workspaceUuid: $w) { id } }", json!({"w": workspace}), Some(&root))
        .await;
    assert!(body.get("errors").is_none(), "only soft-deleted deployments left: {body}");
}

#[tokio::test]
async fn every_setting_bound_is_checked_and_changes_nothing() {
    let (app, root, workspace) = setup().await;
    let id = app.create_deployment(&root, &workspace, "etl").await["id"].as_str().unwrap().to_owned();
    let cases: Vec<(Value, &str)> = vec![
        (json!({"workerMin": -1}), "settings.workerMin"),
        (json!({"workerMin": 11}), "settings.workerMin"),
        (json!({"workerMax": 101}), "settings.workerMax"),
        (json!({"workerConcurrency": 0}), "settings.workerConcurrency"),
        (json!({"workerConcurrency": 257}), "settings.workerConcurrency"),
        (json!({"schedulerReplicas": 0}), "settings.schedulerReplicas"),
        (json!({"schedulerReplicas": 5}), "settings.schedulerReplicas"),
        (json!({"highAvailability": true, "schedulerReplicas": 1}), "settings.schedulerReplicas"),
    ];
    let before = app.deployment_snapshot().await;
    for (settings, field) in cases {
        let body = app
            .gql(
                "mutation($d: Uuid!, $s: DeploymentSettingsInput) { updateDeployment(deploymentUuid: $d, settings: $s) { id } }",
                json!({"d": id, "s": settings}),
                Some(&root),
            )
            .await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{settings}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{settings}");
    }
    let body = app
        .gql("mutation($d: Uuid!) { updateDeployment(deploymentUuid: $d, settings: {executor: SequentialExecutor}) { id } }", json!({"d": id}), Some(&root))
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "unknown executors are refused by the schema");
    let body = app
        .gql(
            "mutation($w: Uuid!) { createDeployment(workspaceUuid: $w, label: \"\") { id } }",
            json!({"w": workspace}),
            Some(&root),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "label");
    let body = app
        .gql(
            "mutation($w: Uuid!) { createDeployment(workspaceUuid: $w, label: \"x\", version: \"1.2.3\") { id } }",
            json!({"w": workspace}),
            Some(&root),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "runtimeVersion");
    let body = app
        .gql("mutation($w: Uuid!, $c: Uuid!) { createDeployment(workspaceUuid: $w, label: \"x\", clusterUuid: $c) { id } }", json!({"w": workspace, "c": uuid::Uuid::new_v4()}), Some(&root))
        .await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "clusterUuid");
    let duplicate = app
        .gql(
            "mutation($w: Uuid!) { createDeployment(workspaceUuid: $w, label: \"ETL\") { id } }",
            json!({"w": workspace}),
            Some(&root),
        )
        .await;
    assert_eq!(error_code(&duplicate), "CONFLICT", "labels are unique among live deployments");
    assert_eq!(app.deployment_snapshot().await, before, "nothing changed");
}

#[tokio::test]
async fn release_names_are_generated_unless_the_operator_allows_choosing() {
    let (app, root, workspace) = setup().await;
    let body = app
        .gql(
            "mutation($w: Uuid!) { createDeployment(workspaceUuid: $w, label: \"x\", releaseName: \"mine\") { id } }",
            json!({"w": workspace}),
            Some(&root),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "releaseName");

    let app = TestApp::spawn_with(|config| {
        config.public_signups = true;
        config.manual_release_names = true;
    })
    .await;
    let root = app.with_owners().await;
    let workspace = app.create_workspace(&root, "Data").await;
    for bad in ["Upper", "-dash", "dash-", "has_underscore", &"a".repeat(64)] {
        let body = app
            .gql("mutation($w: Uuid!, $r: String!) { createDeployment(workspaceUuid: $w, label: $r, releaseName: $r) { id } }", json!({"w": workspace, "r": bad}), Some(&root))
            .await;
        assert_eq!(body["errors"][0]["extensions"]["field"], "releaseName", "{bad}: {body}");
    }
    let body = app
        .gql("mutation($w: Uuid!) { createDeployment(workspaceUuid: $w, label: \"a\", releaseName: \"my-airflow\") { releaseName } }", json!({"w": workspace}), Some(&root))
        .await;
    assert_eq!(body["data"]["createDeployment"]["releaseName"], "my-airflow");
    let body = app
        .gql("mutation($w: Uuid!) { createDeployment(workspaceUuid: $w, label: \"b\", releaseName: \"my-airflow\") { releaseName } }", json!({"w": workspace}), Some(&root))
        .await;
    assert_eq!(error_code(&body), "CONFLICT");
}

#[tokio::test]
async fn deployment_roles_need_workspace_membership() {
    let (app, root, workspace) = setup().await;
    let deployment = app.create_deployment(&root, &workspace, "etl").await["id"].as_str().unwrap().to_owned();
    let (_, grace_id) = app.sign_up("grace@example.com", "correct horse battery").await;
    const ADD: &str = "mutation($d: Id!, $e: String!, $r: Role!) { deploymentAddUserRole(email: $e, deploymentId: $d, role: $r) { id role user { username } deployment { id releaseName } } }";

    let body =
        app.gql(ADD, json!({"d": deployment, "e": "grace@example.com", "r": "DEPLOYMENT_EDITOR"}), Some(&root)).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("workspace first"), "{body}");

    app.add_to_workspace(&root, &workspace, "grace@example.com", "WORKSPACE_VIEWER").await;
    let body =
        app.gql(ADD, json!({"d": deployment, "e": "grace@example.com", "r": "DEPLOYMENT_EDITOR"}), Some(&root)).await;
    assert_eq!(body["data"]["deploymentAddUserRole"]["role"], "DEPLOYMENT_EDITOR", "{body}");
    assert_eq!(body["data"]["deploymentAddUserRole"]["deployment"]["id"], deployment.as_str());
    let again =
        app.gql(ADD, json!({"d": deployment, "e": "grace@example.com", "r": "DEPLOYMENT_VIEWER"}), Some(&root)).await;
    assert_eq!(error_code(&again), "CONFLICT");
    let wrong =
        app.gql(ADD, json!({"d": deployment, "e": "grace@example.com", "r": "WORKSPACE_ADMIN"}), Some(&root)).await;
    assert_eq!(error_code(&wrong), "BAD_USER_INPUT");

    let users = app
        .gql(
            "query($d: Id!) { deploymentUsers(deploymentId: $d) { username roleBindings { role deployment { id } } } }",
            json!({"d": deployment}),
            Some(&root),
        )
        .await;
    let names: Vec<&str> =
        users["data"]["deploymentUsers"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert!(names.contains(&"grace@example.com"), "{users}");

    let body = app
        .gql("mutation($d: Id!) { deploymentUpdateUserRole(email: \"grace@example.com\", deploymentId: $d, role: DEPLOYMENT_ADMIN) { role } }", json!({"d": deployment}), Some(&root))
        .await;
    assert_eq!(body["data"]["deploymentUpdateUserRole"]["role"], "DEPLOYMENT_ADMIN");

    // Removing her from the workspace removes her deployment role too.
    app.gql(
        "mutation($w: Uuid!, $u: Uuid!) { workspaceRemoveUser(workspaceUuid: $w, userUuid: $u) { id } }",
        json!({"w": workspace, "u": grace_id}),
        Some(&root),
    )
    .await;
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM role_bindings WHERE user_id = '{grace_id}' AND scope = 'DEPLOYMENT'"
        ))
        .await,
        0
    );

    // While a workspace invite to the address is pending, the deployment role cannot change.
    app.add_to_workspace(&root, &workspace, "pending@example.com", "WORKSPACE_VIEWER").await;
    let body =
        app.gql(ADD, json!({"d": deployment, "e": "pending@example.com", "r": "DEPLOYMENT_VIEWER"}), Some(&root)).await;
    assert_eq!(error_code(&body), "CONFLICT", "{body}");
}

/// What the query below costs whatever the number of deployments: the principal with its bindings (1),
/// the list (1), then one statement per kind of row and wave of loads: workspace and role bindings of the
/// deployments (2); the users of those bindings (1). The deploy state is on the deployment row.
const STATEMENTS: u64 = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployment_lists_cost_a_constant_number_of_statements() {
    let (app, root, workspace) = setup().await;
    let query = format!(
        "{{ workspaceDeployments(workspaceUuid: \"{workspace}\") {{ workspace {{ label }} roleBindings {{ user {{ username }} }} deployInfo {{ current }} }} }}"
    );
    let mut counts = Vec::new();
    let mut created = 0;
    for target in [1, 50] {
        while created < target {
            app.create_deployment(&root, &workspace, &format!("d{created}")).await;
            created += 1;
        }
        let before = app.state.statements.load(Ordering::SeqCst);
        let body = app.gql(&query, json!({}), Some(&root)).await;
        assert_eq!(body["data"]["workspaceDeployments"].as_array().map(Vec::len), Some(target), "{body}");
        counts.push((target, app.state.statements.load(Ordering::SeqCst) - before));
    }
    for (deployments, statements) in &counts {
        assert_eq!(*statements, STATEMENTS, "{deployments} deployments; all {counts:?}");
    }
}

#[tokio::test]
async fn access_tokens_carry_the_airflow_role_and_are_not_capcom_tokens() {
    use base64::Engine as _;
    let (app, root, workspace) = setup().await;
    let (editor, _) = app.sign_up("editor@example.com", "correct horse battery").await;
    app.add_to_workspace(&root, &workspace, "editor@example.com", "WORKSPACE_EDITOR").await;
    let deployment = app.create_deployment(&root, &workspace, "etl").await["id"].as_str().unwrap().to_owned();
    const MINT: &str =
        "mutation($d: Uuid!) { deploymentAccessToken(deploymentUuid: $d) { value airflowRole expiresAt } }";
    for (token, role) in [(&root, "Admin"), (&editor, "User")] {
        let body = app.gql(MINT, json!({"d": deployment}), Some(token)).await;
        let minted = &body["data"]["deploymentAccessToken"];
        assert_eq!(minted["airflowRole"], role, "{body}");
        let value = minted["value"].as_str().unwrap();
        let payload: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(value.split('.').nth(1).unwrap()).unwrap(),
        )
        .unwrap();
        assert_eq!(payload["aud"], deployment.as_str());
        assert_eq!(payload["roles"], json!([role]));
        assert!(payload["exp"].as_i64().unwrap() - payload["iat"].as_i64().unwrap() <= 3600);
        let refused = app.gql("{ self { id } }", json!({}), Some(value)).await;
        assert_eq!(error_code(&refused), "UNAUTHENTICATED", "not a token for capcom's own API");
    }
}

/// Signing in is one statement (the user, its bindings and its revocation instant) however many objects the
/// caller can reach: decisions use each object's ancestry, not an enumeration of what is reachable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication_is_one_statement_whatever_the_caller_reaches() {
    let (app, root, workspace) = setup().await;
    // owner2 owns the organization (and so every workspace and deployment in it) through no direct binding.
    let owner = app.sign_in("owner2@example.com", "correct horse battery").await;
    let owner = owner["data"]["createToken"]["token"]["value"].as_str().unwrap().to_owned();
    let self_cost = async |token: &str| {
        let before = app.state.statements.load(Ordering::SeqCst);
        let body = app.gql("{ self { id } }", json!({}), Some(token)).await;
        assert!(body.get("errors").is_none(), "{body}");
        app.state.statements.load(Ordering::SeqCst) - before
    };
    app.create_deployment(&root, &workspace, "first").await;
    assert_eq!(self_cost(&owner).await, 1, "an owner of 1 deployment");
    for index in 1..200 {
        app.create_deployment(&root, &workspace, &format!("d{index}")).await;
    }
    assert_eq!(self_cost(&owner).await, 1, "an owner of 200 deployments");
    assert_eq!(self_cost(&root).await, 1, "a system administrator");
}

/// The astro CLI's own `DeploymentDeleteRequest` (houston/deployment.go): every `astro deployment delete`
/// sends it with `deploymentHardDelete: true` since PLX-575.
const CLI_DELETE_DEPLOYMENT: &str = "mutation DeleteDeployment(
		$deploymentId: Uuid!
		$deploymentHardDelete: Boolean
	){
		deleteDeployment(
			deploymentUuid: $deploymentId
			deploymentHardDelete: $deploymentHardDelete
		){
			id type label description releaseName version workspace { id } createdAt updatedAt
		}
	}";

/// Every row that belongs to deployment `id`, by table (audit events aside).
async fn rows_of_deployment(app: &TestApp, id: &str) -> Vec<(&'static str, i64)> {
    let mut rows = Vec::new();
    for (table, sql) in [
        ("deployments", format!("SELECT count(*) AS n FROM deployments WHERE id = '{id}'")),
        (
            "environment_variables",
            format!("SELECT count(*) AS n FROM environment_variables WHERE deployment_id = '{id}'"),
        ),
        ("deploys", format!("SELECT count(*) AS n FROM deploys WHERE deployment_id = '{id}'")),
        ("role_bindings", format!("SELECT count(*) AS n FROM role_bindings WHERE deployment_id = '{id}'")),
        ("service_accounts", format!("SELECT count(*) AS n FROM service_accounts WHERE deployment_id = '{id}'")),
        ("invites", format!("SELECT count(*) AS n FROM invites WHERE deployment_roles::text LIKE '%{id}%'")),
        (
            "requests",
            format!(
                "SELECT count(*) AS n FROM deployments WHERE id = '{id}' \
                 AND (desired_runtime_version IS NOT NULL OR desired_airflow_version IS NOT NULL)"
            ),
        ),
    ] {
        rows.push((table, app.count(&sql).await));
    }
    rows
}

#[tokio::test]
async fn the_clis_hard_delete_removes_the_deployment_for_good_but_not_its_audit_trail() {
    let app = TestApp::spawn_with(|config| {
        config.public_signups = true;
        config.manual_release_names = true;
    })
    .await;
    let root_token = app.with_owners().await;
    let workspace = app.create_workspace(&root_token, "Data").await;
    let root = Some(root_token.as_str());
    let flags = app.gql("{ appConfig { featureFlags } }", json!({}), None).await;
    assert_eq!(flags["data"]["appConfig"]["featureFlags"]["hardDeleteDeployment"], true, "{flags}");

    let create = "mutation($w: Uuid!, $r: String) { createDeployment(workspaceUuid: $w, label: \"etl\", releaseName: $r, version: \"11.7.0\") { id releaseName namespace } }";
    let created = app.gql(create, json!({"w": workspace, "r": "etl-prod"}), root).await;
    let id = created["data"]["createDeployment"]["id"].as_str().unwrap_or_else(|| panic!("{created}")).to_owned();
    let namespace = created["data"]["createDeployment"]["namespace"].as_str().unwrap().to_owned();

    // Everything that can hang off a deployment: variables, a deploy, an API key, people's and teams'
    // roles, a pending runtime upgrade, an invite carrying a role on it.
    let (editor, _) = app.sign_up("editor@example.com", "correct horse battery").await;
    let (viewer, _) = app.sign_up("viewer@example.com", "correct horse battery").await;
    for (email, role) in [("editor@example.com", "WORKSPACE_VIEWER"), ("viewer@example.com", "WORKSPACE_VIEWER")] {
        let added = app.add_to_workspace(&root_token, &workspace, email, role).await;
        assert!(added.get("errors").is_none(), "{added}");
    }
    let writes = [
        (
            "mutation($d: Uuid!) { updateDeploymentVariables(deploymentUuid: $d, environmentVariables: [{key: \"A\", value: \"1\"}, {key: \"TOKEN\", value: \"s3cret\", isSecret: true}]) { key } }",
            json!({"d": id}),
        ),
        ("mutation($d: Uuid!) { createDeploy(deploymentUuid: $d, type: IMAGE) { id } }", json!({"d": id})),
        (
            "mutation($d: Uuid!) { createDeploymentServiceAccount(label: \"ci\", deploymentUuid: $d, role: DEPLOYMENT_EDITOR) { apiKey } }",
            json!({"d": id}),
        ),
        (
            "mutation($d: Id!) { deploymentAddUserRole(email: \"editor@example.com\", deploymentId: $d, role: DEPLOYMENT_EDITOR) { id } }",
            json!({"d": id}),
        ),
        (
            "mutation($d: Uuid!) { updateDeploymentRuntime(deploymentUuid: $d, desiredRuntimeVersion: \"12.4.0\") { id } }",
            json!({"d": id}),
        ),
        (
            "mutation($w: Uuid!, $d: Id!) { workspaceAddUser(workspaceUuid: $w, email: \"newcomer@example.org\", role: WORKSPACE_VIEWER, deploymentRoles: [{deploymentId: $d, role: DEPLOYMENT_ADMIN}]) { id } }",
            json!({"w": workspace, "d": id}),
        ),
    ];
    let mut api_key = String::new();
    for (document, variables) in writes {
        let body = app.gql(document, variables, root).await;
        assert!(body.get("errors").is_none(), "{document}: {body}");
        if let Some(key) = body["data"]["createDeploymentServiceAccount"]["apiKey"].as_str() {
            api_key = key.to_owned();
        }
    }
    let team = app.gql("mutation { createTeam(name: \"Ops\") { id } }", json!({}), root).await;
    let team = team["data"]["createTeam"]["id"].as_str().unwrap_or_else(|| panic!("{team}")).to_owned();
    let body = app
        .gql(
            "mutation($w: Uuid!, $t: Uuid!) { workspaceAddTeam(workspaceUuid: $w, teamUuid: $t, role: WORKSPACE_VIEWER) { id } }",
            json!({"w": workspace, "t": team}),
            root,
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    let body = app
        .gql(
            "mutation($t: Uuid!, $d: Uuid!) { deploymentAddTeamRole(teamUuid: $t, deploymentUuid: $d, role: DEPLOYMENT_VIEWER) { id } }",
            json!({"t": team, "d": id}),
            root,
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    let before = rows_of_deployment(&app, &id).await;
    assert!(before.iter().all(|(_, n)| *n > 0), "every kind of row exists before: {before:?}");
    assert_eq!(app.count(&format!("SELECT count(*) AS n FROM role_bindings WHERE deployment_id = '{id}'")).await, 4);

    // Without `deployment.config.delete` (a deployment editor, a workspace viewer, the deployment's own
    // editor key): FORBIDDEN, and nothing changes.
    let snapshot = format!("{}\n{}", app.deployment_snapshot().await, app.access_snapshot().await);
    for token in [editor.as_str(), viewer.as_str(), api_key.as_str()] {
        let body = app
            .gql(CLI_DELETE_DEPLOYMENT, json!({"deploymentId": id, "deploymentHardDelete": true}), Some(token))
            .await;
        assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
        assert_eq!(body["errors"][0]["message"], "Access is Denied");
    }
    assert_eq!(format!("{}\n{}", app.deployment_snapshot().await, app.access_snapshot().await), snapshot);

    // The CLI's exact request, as it sends it.
    let body = app.gql(CLI_DELETE_DEPLOYMENT, json!({"deploymentId": id, "deploymentHardDelete": true}), root).await;
    assert!(body.get("errors").is_none(), "{body}");
    let deleted = &body["data"]["deleteDeployment"];
    assert_eq!((deleted["id"].as_str(), deleted["label"].as_str()), (Some(id.as_str()), Some("etl")));
    assert_eq!(
        (deleted["releaseName"].as_str(), deleted["workspace"]["id"].as_str()),
        (Some("etl-prod"), Some(workspace.as_str()))
    );
    let after = rows_of_deployment(&app, &id).await;
    assert!(after.iter().all(|(_, n)| *n == 0), "no row of the deployment is left: {after:?}");
    assert_eq!(app.count(&format!("SELECT count(*) AS n FROM teams WHERE id = '{team}'")).await, 1, "the team stays");
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM invites WHERE email = 'newcomer@example.org' AND deployment_roles = '[]'::jsonb"
        )
        .await,
        1,
        "the invite stays, without the deleted deployment's role"
    );
    let event = app
        .text(&format!(
            "SELECT json_build_object('org', organization_id IS NOT NULL, 'ws', workspace_id::text, 'label', before->>'label', \
             'release', before->>'releaseName', 'id', before->>'id')::text AS t \
             FROM audit_events WHERE deployment_id = '{id}' AND action = 'deployment.hardDelete'"
        ))
        .await;
    let event: Value = serde_json::from_str(&event).unwrap();
    assert_eq!(event, json!({"org": true, "ws": workspace, "label": "etl", "release": "etl-prod", "id": id}));
    assert!(
        app.count(&format!("SELECT count(*) AS n FROM audit_events WHERE deployment_id = '{id}'")).await > 5,
        "earlier events of the deployment stay"
    );
    let body = app.gql("{ workspaces { id } }", json!({}), Some(&api_key)).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED", "the deployment's API key went with it: {body}");

    // Its release name and namespace are free again; the old id is gone for everyone.
    let again = app.gql(create, json!({"w": workspace, "r": "etl-prod"}), root).await;
    assert_eq!(again["data"]["createDeployment"]["releaseName"], "etl-prod", "{again}");
    assert_eq!(again["data"]["createDeployment"]["namespace"], namespace.as_str());
    let body = app.gql(CLI_DELETE_DEPLOYMENT, json!({"deploymentId": id, "deploymentHardDelete": true}), root).await;
    assert_eq!(error_code(&body), "NOT_FOUND", "{body}");

    // A soft-deleted deployment is absent: a hard delete of it is NOT_FOUND and keeps its row.
    let other = app.create_deployment(&root_token, &workspace, "old").await["id"].as_str().unwrap().to_owned();
    let body =
        app.gql(CLI_DELETE_DEPLOYMENT, json!({"deploymentId": other, "deploymentHardDelete": false}), root).await;
    assert_eq!(body["data"]["deleteDeployment"]["id"], other.as_str(), "{body}");
    let body = app.gql(CLI_DELETE_DEPLOYMENT, json!({"deploymentId": other, "deploymentHardDelete": true}), root).await;
    assert_eq!(error_code(&body), "NOT_FOUND", "{body}");
    assert_eq!(app.count(&format!("SELECT count(*) AS n FROM deployments WHERE id = '{other}'")).await, 1);
}

#[tokio::test]
async fn of_two_concurrent_hard_deletes_one_wins_and_the_other_finds_nothing() {
    let (app, root, workspace) = setup().await;
    for round in 0..3 {
        let id =
            app.create_deployment(&root, &workspace, &format!("etl-{round}")).await["id"].as_str().unwrap().to_owned();
        let variables = json!({"deploymentId": id, "deploymentHardDelete": true});
        let (a, b) = tokio::join!(
            app.gql(CLI_DELETE_DEPLOYMENT, variables.clone(), Some(&root)),
            app.gql(CLI_DELETE_DEPLOYMENT, variables.clone(), Some(&root))
        );
        let won = [&a, &b].iter().filter(|body| body.get("errors").is_none()).count();
        let lost: Vec<&str> =
            [&a, &b].iter().filter(|body| body.get("errors").is_some()).map(|b| error_code(b)).collect();
        assert_eq!((won, lost), (1, vec!["NOT_FOUND"]), "{a}\n{b}");
        let events = app
            .count(&format!(
                "SELECT count(*) AS n FROM audit_events WHERE deployment_id = '{id}' AND action = 'deployment.hardDelete'"
            ))
            .await;
        assert_eq!(events, 1);
        assert_eq!(app.count(&format!("SELECT count(*) AS n FROM deployments WHERE id = '{id}'")).await, 0);
    }
}
