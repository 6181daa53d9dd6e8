//! Capabilities tell the truth: for every field of `workspaceCapabilities` and `deploymentCapabilities`,
//! the operation it names succeeds exactly when the field says `true` (SPEC §6: "so a console can grey out
//! what the caller cannot do"), including the deployment's own rule on deployers (`enforceCicd`, SPEC §4.3).

use serde_json::{Value, json};

use crate::common::{TestApp, error_code};

/// Who asks, and how they hold their workspace role.
#[derive(Clone, Copy, Debug)]
enum Who {
    Person(&'static str),
    Key(&'static str),
}

struct Fixture {
    token: String,
    workspace: String,
    deployment: String,
    workspace_key: String,
    workspace_key_doomed: String,
    deployment_key: String,
    deployment_key_doomed: String,
}

fn data<'a>(body: &'a Value, field: &str) -> &'a Value {
    assert!(body.get("errors").is_none(), "{field}: {body}");
    &body["data"][field]
}

/// A workspace and an `enforceCicd` deployment made by the system admin, with the principal holding `who`'s
/// role on the workspace, a member and keys for the IAM and key operations to act on, and a team.
async fn fixture(app: &TestApp, root: &str, n: usize, who: Who) -> Fixture {
    let workspace = app.create_workspace(root, &format!("Capabilities {n}")).await;
    let deployment = app.create_deployment(root, &workspace, "etl").await["id"].as_str().unwrap().to_owned();
    let body = app
        .gql(
            "mutation($d: Uuid!) { updateDeployment(deploymentUuid: $d, settings: {enforceCicd: true}) { enforceCicd } }",
            json!({"d": deployment}),
            Some(root),
        )
        .await;
    assert_eq!(data(&body, "updateDeployment")["enforceCicd"], true);
    let target = format!("target{n}@example.com");
    app.sign_up(&target, "correct horse battery").await;
    assert!(app.add_to_workspace(root, &workspace, &target, "WORKSPACE_VIEWER").await.get("errors").is_none());
    let body = app
        .gql(
            "mutation($d: Id!, $e: String!) { deploymentAddUserRole(email: $e, deploymentId: $d, role: DEPLOYMENT_VIEWER) { role } }",
            json!({"d": deployment, "e": target}),
            Some(root),
        )
        .await;
    data(&body, "deploymentAddUserRole");
    let mut keys = Vec::new();
    for label in ["probe", "doomed"] {
        let body = app
            .gql(
                "mutation($w: Uuid!, $l: String!) { createWorkspaceServiceAccount(label: $l, workspaceUuid: $w, role: WORKSPACE_VIEWER) { id } }",
                json!({"w": workspace, "l": label}),
                Some(root),
            )
            .await;
        keys.push(data(&body, "createWorkspaceServiceAccount")["id"].as_str().unwrap().to_owned());
        let body = app
            .gql(
                "mutation($d: Uuid!, $l: String!) { createDeploymentServiceAccount(label: $l, deploymentUuid: $d, role: DEPLOYMENT_VIEWER) { id } }",
                json!({"d": deployment, "l": label}),
                Some(root),
            )
            .await;
        keys.push(data(&body, "createDeploymentServiceAccount")["id"].as_str().unwrap().to_owned());
    }
    let token = match who {
        Who::Person(role) => {
            let email = format!("caller{n}@example.com");
            let (token, _) = app.sign_up(&email, "correct horse battery").await;
            assert!(app.add_to_workspace(root, &workspace, &email, role).await.get("errors").is_none());
            token
        }
        Who::Key(role) => {
            let body = app
                .gql(
                    "mutation($w: Uuid!, $r: Role!) { createWorkspaceServiceAccount(label: \"caller\", workspaceUuid: $w, role: $r) { apiKey } }",
                    json!({"w": workspace, "r": role}),
                    Some(root),
                )
                .await;
            data(&body, "createWorkspaceServiceAccount")["apiKey"].as_str().unwrap().to_owned()
        }
    };
    Fixture {
        token,
        workspace,
        deployment,
        workspace_key: keys[0].clone(),
        deployment_key: keys[1].clone(),
        workspace_key_doomed: keys[2].clone(),
        deployment_key_doomed: keys[3].clone(),
    }
}

/// The operation each capability names, as a document and its variables. Destructive ones come last
/// (deleting the deployment, then the workspace) so that every other operation still has its object.
fn operations(f: &Fixture, n: usize, team: &str) -> Vec<(&'static str, &'static str, String, Value)> {
    let target = format!("target{n}@example.com");
    vec![
        ("workspace", "canUpdateWorkspace", "mutation($w: Uuid!) { updateWorkspace(workspaceUuid: $w, payload: {description: \"checked\"}) { id } }".into(), json!({"w": f.workspace})),
        ("workspace", "canUpdateIAM", "mutation($w: Uuid!, $e: String!) { workspaceUpdateUserRole(workspaceUuid: $w, email: $e, role: WORKSPACE_EDITOR) }".into(), json!({"w": f.workspace, "e": target})),
        ("workspace", "canInviteUser", "mutation($w: Uuid!, $e: String!) { workspaceAddUser(workspaceUuid: $w, email: $e, role: WORKSPACE_VIEWER) { id } }".into(), json!({"w": f.workspace, "e": format!("newcomer{n}@example.com")})),
        ("workspace", "canCreateDeployment", "mutation($w: Uuid!) { createDeployment(workspaceUuid: $w, label: \"made by the caller\") { id } }".into(), json!({"w": f.workspace})),
        ("workspace", "canCreateServiceAccount", "mutation($w: Uuid!) { createWorkspaceServiceAccount(label: \"made by the caller\", workspaceUuid: $w, role: WORKSPACE_VIEWER) { id } }".into(), json!({"w": f.workspace})),
        ("workspace", "canUpdateServiceAccount", "mutation($w: Uuid!, $s: Uuid!) { updateWorkspaceServiceAccount(serviceAccountUuid: $s, workspaceUuid: $w, payload: {label: \"renamed\"}) { id } }".into(), json!({"w": f.workspace, "s": f.workspace_key})),
        ("workspace", "canDeleteServiceAccount", "mutation($w: Uuid!, $s: Uuid!) { deleteWorkspaceServiceAccount(serviceAccountUuid: $s, workspaceUuid: $w) { id } }".into(), json!({"w": f.workspace, "s": f.workspace_key_doomed})),
        ("workspace", "canViewUsers", "query($w: Uuid!) { workspaceUsers(workspaceUuid: $w) { id } }".into(), json!({"w": f.workspace})),
        ("workspace", "canManageTeams", "mutation($w: Uuid!, $t: Uuid!) { workspaceAddTeam(workspaceUuid: $w, teamUuid: $t, role: WORKSPACE_VIEWER) { id } }".into(), json!({"w": f.workspace, "t": team})),
        ("workspace", "canGetAuditLogs", "query($w: Uuid!) { auditEvents(filter: {workspaceUuid: $w}, first: 1) { totalCount } }".into(), json!({"w": f.workspace})),
        ("deployment", "canUpdateDeployment", "mutation($d: Uuid!) { updateDeployment(deploymentUuid: $d, payload: {description: \"checked\"}) { id } }".into(), json!({"d": f.deployment})),
        ("deployment", "canDeploy", "mutation($d: Uuid!) { createDeploy(deploymentUuid: $d, type: IMAGE) { revision } }".into(), json!({"d": f.deployment})),
        ("deployment", "canUpdateIAM", "mutation($d: Id!, $e: String!) { deploymentUpdateUserRole(email: $e, deploymentId: $d, role: DEPLOYMENT_EDITOR) { role } }".into(), json!({"d": f.deployment, "e": target})),
        ("deployment", "canCreateServiceAccount", "mutation($d: Uuid!) { createDeploymentServiceAccount(label: \"made by the caller\", deploymentUuid: $d, role: DEPLOYMENT_VIEWER) { id } }".into(), json!({"d": f.deployment})),
        ("deployment", "canUpdateServiceAccount", "mutation($d: Uuid!, $s: Uuid!) { updateDeploymentServiceAccount(serviceAccountUuid: $s, deploymentUuid: $d, payload: {label: \"renamed\"}) { id } }".into(), json!({"d": f.deployment, "s": f.deployment_key})),
        ("deployment", "canDeleteServiceAccount", "mutation($d: Uuid!, $s: Uuid!) { deleteDeploymentServiceAccount(serviceAccountUuid: $s, deploymentUuid: $d) { id } }".into(), json!({"d": f.deployment, "s": f.deployment_key_doomed})),
        ("deployment", "canViewUsers", "query($d: Id!) { deploymentUsers(deploymentId: $d) { id } }".into(), json!({"d": f.deployment})),
        ("deployment", "canReadVariables", "query($d: Uuid!) { deploymentVariables(deploymentUuid: $d) { key } }".into(), json!({"d": f.deployment})),
        ("deployment", "canDeleteDeployment", "mutation($d: Uuid!) { deleteDeployment(deploymentUuid: $d) { id } }".into(), json!({"d": f.deployment})),
        ("workspace", "canDeleteWorkspace", "mutation($w: Uuid!) { deleteWorkspace(workspaceUuid: $w) { id } }".into(), json!({"w": f.workspace})),
    ]
}

async fn remove_deployments(app: &TestApp, root: &str, workspace: &str) {
    let body = app
        .gql("query($w: Uuid!) { workspaceDeployments(workspaceUuid: $w) { id } }", json!({"w": workspace}), Some(root))
        .await;
    for deployment in data(&body, "workspaceDeployments").as_array().unwrap() {
        let body = app
            .gql(
                "mutation($d: Uuid!) { deleteDeployment(deploymentUuid: $d) { id } }",
                json!({"d": deployment["id"]}),
                Some(root),
            )
            .await;
        data(&body, "deleteDeployment");
    }
}

/// The capability fields the schema has, so that a new capability without an operation here fails the
/// test instead of going unchecked.
async fn capability_fields(app: &TestApp, type_name: &str) -> Vec<String> {
    let body =
        app.gql("query($t: String!) { __type(name: $t) { fields { name } } }", json!({"t": type_name}), None).await;
    body["data"]["__type"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn every_capability_matches_the_outcome_of_its_operation() {
    let app = TestApp::spawn_with(|config| config.public_signups = true).await;
    let root = app.with_owners().await;
    let body = app.gql("mutation { createTeam(name: \"Probes\") { id } }", json!({}), Some(&root)).await;
    let team = data(&body, "createTeam")["id"].as_str().unwrap().to_owned();

    // `canUseAirflowAdmin` names no operation of its own: it reports the Airflow role (checked in
    // deployments.rs against `deploymentAccessToken`).
    let mut unchecked: Vec<(String, String)> = Vec::new();
    for (kind, type_name) in [("workspace", "WorkspaceCapabilities"), ("deployment", "DeploymentCapabilities")] {
        for field in capability_fields(&app, type_name).await {
            if field != "canUseAirflowAdmin" {
                unchecked.push((kind.to_owned(), field));
            }
        }
    }

    let principals = [
        Who::Person("WORKSPACE_ADMIN"),
        Who::Person("WORKSPACE_EDITOR"),
        Who::Person("WORKSPACE_VIEWER"),
        Who::Key("WORKSPACE_ADMIN"),
        Who::Key("WORKSPACE_EDITOR"),
    ];
    for (n, who) in principals.into_iter().enumerate() {
        let f = fixture(&app, &root, n, who).await;
        let body = app
            .gql(
                "query($w: Uuid!, $d: Id!) {
                   workspace(workspaceUuid: $w) { workspaceCapabilities { canUpdateWorkspace canDeleteWorkspace canUpdateIAM canInviteUser canCreateDeployment canCreateServiceAccount canUpdateServiceAccount canDeleteServiceAccount canViewUsers canManageTeams canGetAuditLogs } }
                   deployment(where: {id: $d}) { deploymentCapabilities { canUpdateDeployment canDeleteDeployment canDeploy canUpdateIAM canCreateServiceAccount canUpdateServiceAccount canDeleteServiceAccount canViewUsers canReadVariables } }
                 }",
                json!({"w": f.workspace, "d": f.deployment}),
                Some(&f.token),
            )
            .await;
        assert!(body.get("errors").is_none(), "{who:?}: {body}");
        let workspace_caps = body["data"]["workspace"]["workspaceCapabilities"].clone();
        let deployment_caps = body["data"]["deployment"]["deploymentCapabilities"].clone();

        // Written by hand from SPEC §2 and §4.3: with enforceCicd on, people never deploy, keys with the
        // push permission (editor and up) do; viewers change nothing.
        let person = matches!(who, Who::Person(_));
        let viewer = matches!(who, Who::Person("WORKSPACE_VIEWER"));
        assert_eq!(deployment_caps["canDeploy"], !person, "{who:?}: canDeploy with enforceCicd");
        assert_eq!(
            workspace_caps["canDeleteWorkspace"],
            matches!(who, Who::Person("WORKSPACE_ADMIN") | Who::Key("WORKSPACE_ADMIN")),
            "{who:?}: only admins delete a workspace (workspace.config.delete)"
        );
        assert_eq!(
            workspace_caps["canUpdateWorkspace"], !viewer,
            "{who:?}: editors and admins (workspace.config.update)"
        );
        assert_eq!(deployment_caps["canUpdateDeployment"], !viewer, "{who:?}: editors and admins update deployments");
        assert_eq!(workspace_caps["canViewUsers"], true, "{who:?}: every member sees the members");

        for (kind, capability, document, variables) in operations(&f, n, &team) {
            let says = match kind {
                "workspace" => &workspace_caps[capability],
                _ => &deployment_caps[capability],
            };
            let says = says.as_bool().unwrap_or_else(|| panic!("{who:?}: {kind} {capability} missing: {body}"));
            if capability == "canDeleteWorkspace" {
                // A workspace with live deployments is CONFLICT whoever asks (SPEC §4.2), not a matter of
                // permission: the deployments the caller made are removed first.
                remove_deployments(&app, &root, &f.workspace).await;
            }
            let before = format!("{}\n{}", app.access_snapshot().await, app.deployment_snapshot().await);
            let outcome = app.gql(&document, variables, Some(&f.token)).await;
            if says {
                assert!(outcome.get("errors").is_none(), "{who:?}: {kind} {capability} is true, yet: {outcome}");
            } else {
                assert_eq!(error_code(&outcome), "FORBIDDEN", "{who:?}: {kind} {capability} is false: {outcome}");
                let after = format!("{}\n{}", app.access_snapshot().await, app.deployment_snapshot().await);
                assert_eq!(before, after, "{who:?}: the refused {capability} changed nothing");
            }
            unchecked.retain(|(k, c)| !(k == kind && c == capability));
        }
    }
    assert!(unchecked.is_empty(), "capabilities without an operation checked here: {unchecked:?}");
}
