//! Deployments as code (docs/deployment-file.md): `deploymentFile` exports a deployment's declared state,
//! `applyDeploymentFile` creates or updates a deployment to match a file in one transaction with one
//! audit event. Expectations are written by hand from the issue and the format's documentation.

use chrono::Timelike;
use serde_json::{Value, json};

use crate::common::{TestApp, error_code, error_message};

const EXPORT: &str = "query($d: Uuid!, $f: DeploymentFileFormat) { deploymentFile(deploymentUuid: $d, format: $f) }";
const APPLY: &str = "mutation($w: Uuid!, $file: String!, $dry: Boolean) { applyDeploymentFile(workspaceUuid: $w, file: $file, dryRun: $dry) { created dryRun deployment { id label workerMax } changes { field old new } } }";

struct World {
    app: TestApp,
    root: String,
    workspace: String,
    deployment: String,
    runtime: String,
    cluster: String,
}

/// A workspace "Data" with deployment "etl": variables `PLAIN=1` and secret `TOKEN=hunter2`, and
/// `editor@example.com` (WORKSPACE_VIEWER) holding DEPLOYMENT_EDITOR on it.
async fn world() -> World {
    let app = TestApp::spawn_with(|config| config.public_signups = true).await;
    let root = app.with_owners().await;
    let workspace = app.create_workspace(&root, "Data").await;
    let deployment = app.create_deployment(&root, &workspace, "etl").await["id"].as_str().unwrap().to_owned();
    let set = app
        .gql(
            "mutation($d: Uuid!) { updateDeploymentVariables(deploymentUuid: $d, environmentVariables: [{key: \"PLAIN\", value: \"1\"}, {key: \"TOKEN\", value: \"hunter2\", isSecret: true}]) { key } }",
            json!({"d": deployment}),
            Some(&root),
        )
        .await;
    assert!(set.get("errors").is_none(), "{set}");
    app.sign_up("editor@example.com", "correct horse battery").await;
    assert!(
        app.add_to_workspace(&root, &workspace, "editor@example.com", "WORKSPACE_VIEWER").await.get("errors").is_none()
    );
    let role = app
        .gql(
            "mutation($d: Id!) { deploymentAddUserRole(email: \"editor@example.com\", deploymentId: $d, role: DEPLOYMENT_EDITOR) { id } }",
            json!({"d": deployment}),
            Some(&root),
        )
        .await;
    assert!(role.get("errors").is_none(), "{role}");
    let config = app.gql("{ deploymentConfig { defaultRuntimeVersion } }", json!({}), Some(&root)).await;
    let runtime = config["data"]["deploymentConfig"]["defaultRuntimeVersion"].as_str().unwrap().to_owned();
    let cluster = app
        .text(&format!(
            "SELECT c.name AS t FROM clusters c JOIN deployments d ON d.cluster_id = c.id WHERE d.id = '{deployment}'"
        ))
        .await;
    World { app, root, workspace, deployment, runtime, cluster }
}

async fn export(w: &World, format: &str, token: &str) -> Value {
    w.app.gql(EXPORT, json!({"d": w.deployment, "f": format}), Some(token)).await
}

async fn apply(w: &World, file: &str, dry_run: bool, token: &str) -> Value {
    w.app.gql(APPLY, json!({"w": w.workspace, "file": file, "dry": dry_run}), Some(token)).await
}

async fn events(app: &TestApp, action: &str) -> i64 {
    app.count(&format!("SELECT count(*) AS n FROM audit_events WHERE action = '{action}'")).await
}

fn yaml_of(w: &World) -> String {
    format!(
        "apiVersion: capcom/v1\nlabel: etl\ndescription: ''\ncluster: {cluster}\nexecutor: CeleryExecutor\nruntimeVersion: {runtime}\nscheduler:\n  size: SMALL\n  replicas: 1\nworkers:\n  min: 0\n  max: 10\n  concurrency: 5\nhighAvailability: false\nenforceCicd: false\ndagDeployEnabled: false\nenvironmentVariables:\n- key: PLAIN\n  value: '1'\n- key: TOKEN\n  isSecret: true\nhibernation:\n  developmentMode: false\nroles:\n- user: editor@example.com\n  role: DEPLOYMENT_EDITOR\n- user: root@example.com\n  role: DEPLOYMENT_ADMIN\n",
        cluster = w.cluster,
        runtime = w.runtime
    )
}

#[tokio::test]
async fn export_shapes_and_round_trip_without_a_write() {
    let w = world().await;
    let yaml = export(&w, "YAML", &w.root).await;
    let text = yaml["data"]["deploymentFile"].as_str().unwrap_or_else(|| panic!("{yaml}"));
    assert_eq!(text, yaml_of(&w));
    assert!(!text.contains("hunter2"), "a secret's value is never exported");
    let json_body = export(&w, "JSON", &w.root).await;
    let json_text = json_body["data"]["deploymentFile"].as_str().unwrap_or_else(|| panic!("{json_body}"));
    assert!(!json_text.contains("hunter2"));
    let parsed: Value = serde_json::from_str(json_text).unwrap();
    assert_eq!(parsed["apiVersion"], "capcom/v1");
    assert_eq!(parsed["workers"], json!({"min": 0, "max": 10, "concurrency": 5}));
    assert_eq!(
        parsed["environmentVariables"],
        json!([{"key": "PLAIN", "value": "1"}, {"key": "TOKEN", "isSecret": true}])
    );
    assert_eq!(
        parsed["roles"],
        json!([{"user": "editor@example.com", "role": "DEPLOYMENT_EDITOR"}, {"user": "root@example.com", "role": "DEPLOYMENT_ADMIN"}])
    );
    let keys: Vec<&String> = parsed.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "apiVersion",
            "label",
            "description",
            "cluster",
            "executor",
            "runtimeVersion",
            "scheduler",
            "workers",
            "highAvailability",
            "enforceCicd",
            "dagDeployEnabled",
            "environmentVariables",
            "hibernation",
            "roles"
        ]
    );
    assert_eq!(parsed["hibernation"], json!({"developmentMode": false}), "no schedule: only the flag");
    // Round trip: applying either file unchanged changes nothing and records nothing.
    let before = w.app.deployment_snapshot().await;
    for file in [text, json_text] {
        for dry_run in [false, true] {
            let body = apply(&w, file, dry_run, &w.root).await;
            let applied = &body["data"]["applyDeploymentFile"];
            assert_eq!(applied["changes"], json!([]), "{body}");
            assert_eq!(applied["created"], false);
            assert_eq!(applied["deployment"]["id"], w.deployment.as_str());
        }
    }
    assert_eq!(w.app.deployment_snapshot().await, before, "a round trip writes nothing, not even an audit event");
}

#[tokio::test]
async fn a_dry_run_lists_each_change_and_writes_nothing_then_apply_writes_one_event() {
    let w = world().await;
    let file = yaml_of(&w).replace("  max: 10\n", "  max: 20\n").replace(
        "- key: TOKEN\n  isSecret: true\n",
        "- key: TOKEN\n  value: s3cret-value\n  isSecret: true\n- key: NEW\n  value: fresh\n",
    );
    let before = w.app.deployment_snapshot().await;
    let body = apply(&w, &file, true, &w.root).await;
    let expected = json!([
        {"field": "workers.max", "old": "10", "new": "20"},
        {"field": "environmentVariables.TOKEN", "old": "(secret)", "new": "(secret changed)"},
        {"field": "environmentVariables.NEW", "old": null, "new": "fresh"},
    ]);
    assert_eq!(body["data"]["applyDeploymentFile"]["changes"], expected, "{body}");
    assert_eq!(body["data"]["applyDeploymentFile"]["dryRun"], true);
    assert_eq!(body["data"]["applyDeploymentFile"]["deployment"]["workerMax"], 10, "the answer shows it as it is");
    assert_eq!(w.app.deployment_snapshot().await, before, "a dry run writes nothing, not even an audit event");

    let body = apply(&w, &file, false, &w.root).await;
    assert_eq!(body["data"]["applyDeploymentFile"]["changes"], expected, "{body}");
    assert_eq!(body["data"]["applyDeploymentFile"]["deployment"]["workerMax"], 20);
    assert_eq!(events(&w.app, "deployment.file.applied").await, 1);
    assert_eq!(events(&w.app, "deployment.update").await, 0, "one event for the whole apply");
    assert_eq!(events(&w.app, "deployment.variables.update").await, 1, "only the world's own update");
    let audit = w.app.text("SELECT after::text AS t FROM audit_events WHERE action = 'deployment.file.applied'").await;
    assert!(audit.contains("(secret changed)") && !audit.contains("s3cret-value"), "{audit}");
    let stored = w
        .app
        .text(
            "SELECT coalesce(value, '') || '|' || is_secret::text AS t FROM environment_variables WHERE key = 'TOKEN'",
        )
        .await;
    assert_eq!(stored, "|true", "secrets are sealed");
}

#[tokio::test]
async fn secrets_left_out_are_kept_and_settings_left_out_stay() {
    let w = world().await;
    let sealed = "SELECT encode(secret_ciphertext, 'hex') AS t FROM environment_variables WHERE key = 'TOKEN'";
    let cipher = w.app.text(sealed).await;
    let file = "apiVersion: capcom/v1\nlabel: etl\nenvironmentVariables:\n- key: PLAIN\n  value: '2'\n";
    let body = apply(&w, file, false, &w.root).await;
    assert_eq!(
        body["data"]["applyDeploymentFile"]["changes"],
        json!([{"field": "environmentVariables.PLAIN", "old": "1", "new": "2"}]),
        "{body}"
    );
    assert_eq!(w.app.text(sealed).await, cipher, "a secret the file leaves out keeps its value");
    assert_eq!(
        w.app
            .count("SELECT count(*) AS n FROM role_bindings WHERE deployment_id IS NOT NULL AND user_id IS NOT NULL")
            .await,
        2,
        "roles left out stay"
    );
}

#[tokio::test]
async fn a_new_label_creates_the_deployment_with_one_event() {
    let w = world().await;
    let file = json!({
        "apiVersion": "capcom/v1", "label": "reports", "executor": "KubernetesExecutor",
        "workers": {"max": 4}, "environmentVariables": [{"key": "A", "value": "b"}],
        "roles": [{"user": "editor@example.com", "role": "DEPLOYMENT_VIEWER"}],
    })
    .to_string();
    let body = apply(&w, &file, true, &w.root).await;
    assert_eq!(body["data"]["applyDeploymentFile"]["created"], true, "{body}");
    assert_eq!(body["data"]["applyDeploymentFile"]["deployment"], Value::Null);
    assert_eq!(w.app.count("SELECT count(*) AS n FROM deployments WHERE label = 'reports'").await, 0);
    let body = apply(&w, &file, false, &w.root).await;
    let applied = &body["data"]["applyDeploymentFile"];
    assert_eq!(applied["created"], true, "{body}");
    assert_eq!(applied["deployment"]["label"], "reports");
    assert_eq!(applied["deployment"]["workerMax"], 4);
    let changes = applied["changes"].as_array().unwrap();
    assert!(changes.contains(&json!({"field": "executor", "old": null, "new": "KubernetesExecutor"})), "{body}");
    assert!(
        changes.contains(&json!({"field": "roles[user:editor@example.com]", "old": null, "new": "DEPLOYMENT_VIEWER"}))
    );
    assert!(
        !changes.iter().any(|change| change["field"] == "roles[user:root@example.com]"),
        "the list is exact: the creator is not given a role the file does not list: {body}"
    );
    assert_eq!(events(&w.app, "deployment.file.applied").await, 1);
    assert_eq!(events(&w.app, "deployment.create").await, 1, "only the world's own createDeployment");
    // Applied again: nothing to do.
    let again = apply(&w, &file, false, &w.root).await;
    assert_eq!(again["data"]["applyDeploymentFile"]["changes"], json!([]), "{again}");
}

#[tokio::test]
async fn errors_name_the_path_and_the_line() {
    let w = world().await;
    let cases: &[(&str, &str, &str)] = &[
        ("apiVersion: capcom/v1\nlabel: etl\nworkers:\n  max: lots\n", "workers.max", "line 4"),
        ("apiVersion: capcom/v1\nlabel: etl\nworkers:\n  maximum: 3\n", "workers.maximum", "unknown field"),
        ("label: etl\n", "file", "apiVersion"),
        ("apiVersion: capcom/v9\nlabel: etl\n", "apiVersion", "capcom/v1"),
        ("apiVersion: capcom/v1\nlabel: etl\nworkers:\n  max: 100000\n", "workers.max", "at most"),
        ("apiVersion: capcom/v1\nlabel: etl\nworkers: [1\n", "workers", "line 3"),
        ("apiVersion: capcom/v1\nlabel: 'etl\n", "label", "line 3"),
        (
            "apiVersion: capcom/v1\nlabel: etl\nenvironmentVariables:\n- key: bad-key\n",
            "environmentVariables[0].key",
            "not a valid key",
        ),
        (
            "apiVersion: capcom/v1\nlabel: etl\nroles:\n- user: root@example.com\n  role: WORKSPACE_ADMIN\n",
            "roles[0].role",
            "not a deployment role",
        ),
    ];
    // The account outside the workspace exists before the snapshot: only refused files run after it.
    w.app.sign_up("outside@example.com", "correct horse battery").await;
    let before = w.app.deployment_snapshot().await;
    for (file, field, says) in cases {
        let body = apply(&w, file, false, &w.root).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{file}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], *field, "{file}: {body}");
        assert!(error_message(&body).contains(says), "{file}: {body}");
    }
    // A member of the organization outside the workspace and an address nobody has get the same answer.
    let mut messages = Vec::new();
    for address in ["outside@example.com", "nobody@example.com"] {
        let file = format!(
            "apiVersion: capcom/v1\nlabel: etl\nroles:\n- user: root@example.com\n  role: DEPLOYMENT_ADMIN\n- user: {address}\n  role: DEPLOYMENT_VIEWER\n"
        );
        let body = apply(&w, &file, false, &w.root).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], "roles[1].user");
        messages.push(error_message(&body).replace(address, "ADDRESS"));
    }
    assert_eq!(messages[0], messages[1], "absent and outside look the same");
    assert_eq!(w.app.deployment_snapshot().await, before, "a refused file changes nothing");
}

#[tokio::test]
async fn a_refused_apply_changes_nothing() {
    let w = world().await;
    w.app.sign_up("viewer@example.com", "correct horse battery").await;
    assert!(
        w.app
            .add_to_workspace(&w.root, &w.workspace, "viewer@example.com", "WORKSPACE_VIEWER")
            .await
            .get("errors")
            .is_none()
    );
    let viewer =
        w.app.sign_in("viewer@example.com", "correct horse battery").await["data"]["createToken"]["token"]["value"]
            .as_str()
            .unwrap()
            .to_owned();
    w.app.sign_up("wseditor@example.com", "correct horse battery").await;
    assert!(
        w.app
            .add_to_workspace(&w.root, &w.workspace, "wseditor@example.com", "WORKSPACE_EDITOR")
            .await
            .get("errors")
            .is_none()
    );
    let editor =
        w.app.sign_in("wseditor@example.com", "correct horse battery").await["data"]["createToken"]["token"]["value"]
            .as_str()
            .unwrap()
            .to_owned();
    let before = w.app.deployment_snapshot().await;
    let bigger = yaml_of(&w).replace("  max: 10\n", "  max: 20\n");
    for dry_run in [true, false] {
        // A viewer may read the file but not apply a change, nor create a deployment.
        let body = apply(&w, &bigger, dry_run, &viewer).await;
        assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
        let body = apply(&w, "apiVersion: capcom/v1\nlabel: new one\n", dry_run, &viewer).await;
        assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
        // An editor may change settings but not grant DEPLOYMENT_ADMIN: the whole file is refused.
        let escalate = bigger.replace("role: DEPLOYMENT_EDITOR", "role: DEPLOYMENT_ADMIN");
        let body = apply(&w, &escalate, dry_run, &editor).await;
        assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
    }
    assert_eq!(w.app.deployment_snapshot().await, before, "refused applies change nothing");
    assert!(export(&w, "YAML", &viewer).await["data"]["deploymentFile"].is_string());
    // Without role changes the editor's file goes through.
    let body = apply(&w, &bigger, false, &editor).await;
    assert_eq!(
        body["data"]["applyDeploymentFile"]["changes"],
        json!([{"field": "workers.max", "old": "10", "new": "20"}]),
        "{body}"
    );
}

#[tokio::test]
async fn other_workspaces_and_outsiders_learn_nothing() {
    let w = world().await;
    let (other, _) = w.app.sign_up("other@example.com", "correct horse battery").await;
    let theirs = w.app.create_workspace(&other, "Theirs").await;
    let file = yaml_of(&w);
    // Not a member of Data: the same refusal as for a workspace that does not exist.
    let body = apply(&w, &file, true, &other).await;
    assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
    let missing =
        w.app.gql(APPLY, json!({"w": uuid::Uuid::new_v4().to_string(), "file": file, "dry": true}), Some(&other)).await;
    assert_eq!(error_code(&missing), "FORBIDDEN", "{missing}");
    assert_eq!(body["errors"][0]["message"], missing["errors"][0]["message"]);
    assert_eq!(error_code(&export(&w, "YAML", &other).await), "FORBIDDEN");
    // In their own workspace the label names nothing of Data: a new deployment would be created there.
    let body = w
        .app
        .gql(APPLY, json!({"w": theirs, "file": "apiVersion: capcom/v1\nlabel: etl\n", "dry": true}), Some(&other))
        .await;
    assert_eq!(body["data"]["applyDeploymentFile"]["created"], true, "{body}");
}

#[tokio::test]
async fn hostile_files_are_refused_quickly() {
    let w = world().await;
    let huge = format!("apiVersion: capcom/v1\nlabel: etl\ndescription: '{}'\n", "x".repeat(300 * 1024));
    let deep =
        format!("apiVersion: capcom/v1\nlabel: etl\ndescription: {}{}\n", "[".repeat(20_000), "]".repeat(20_000));
    let deep_json = format!(
        "{{\"apiVersion\": \"capcom/v1\", \"label\": \"etl\", \"description\": {}{}}}",
        "[".repeat(20_000),
        "]".repeat(20_000)
    );
    let mut bomb = String::from(
        "apiVersion: capcom/v1\nlabel: etl\na: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    let names = ["b", "c", "d", "e", "f", "g", "h", "i"];
    let mut previous = "a";
    for name in names {
        bomb.push_str(&format!("{name}: &{name} [*{previous},*{previous},*{previous},*{previous},*{previous},*{previous},*{previous},*{previous},*{previous}]\n"));
        previous = name;
    }
    // The same bomb where a known key expects a list.
    let mut bomb_in_field =
        String::from("apiVersion: capcom/v1\nlabel: etl\nroles: &r0 [{role: DEPLOYMENT_VIEWER, team: x}]\n");
    bomb_in_field.push_str("environmentVariables: [*r0, *r0, *r0]\n");
    let before = w.app.deployment_snapshot().await;
    for file in [&huge, &deep, &deep_json, &bomb, &bomb_in_field] {
        let body = apply(&w, file, false, &w.root).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{}", &body.to_string()[..body.to_string().len().min(500)]);
    }
    assert_eq!(w.app.deployment_snapshot().await, before);
}

/// What one request may cost in deployment files (SPEC §7): a file nested deeper than 32 levels is
/// refused before the YAML parser sees it (120 000 nested `[` used to cost 53 s of CPU), and one request
/// applies one file however many aliases or batched operations it holds.
#[tokio::test]
async fn deep_files_are_refused_before_parsing_and_a_request_applies_one_file() {
    let w = world().await;
    let deep =
        format!("apiVersion: capcom/v1\nlabel: etl\ndescription: {}{}\n", "[".repeat(120_000), "]".repeat(120_000));
    let body = apply(&w, &deep, true, &w.root).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("more than 32 deep"), "{body}");

    let file = yaml_of(&w);
    let aliases: Vec<String> = (0..3)
        .map(|n| format!("a{n}: applyDeploymentFile(workspaceUuid: $w, file: $file, dryRun: true) {{ dryRun }}"))
        .collect();
    let document = format!("mutation($w: Uuid!, $file: String!) {{ {} }}", aliases.join(" "));
    let body = w.app.gql(&document, json!({"w": w.workspace, "file": file}), Some(&w.root)).await;
    let errors = body["errors"].as_array().cloned().unwrap_or_default();
    assert_eq!(errors.len(), 2, "two of three aliases refused: {body}");
    for error in &errors {
        assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{body}");
        assert!(error["message"].as_str().unwrap().contains("at most one deployment file"), "{body}");
    }
    let batch: Vec<Value> =
        (0..2).map(|_| json!({"query": APPLY, "variables": {"w": w.workspace, "file": file, "dry": true}})).collect();
    let replies: Value = w
        .app
        .client
        .post(format!("{}/v1", w.app.base))
        .header("Authorization", &w.root)
        .json(&batch)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(replies[0].get("errors").is_none(), "{replies}");
    assert_eq!(error_code(&replies[1]), "BAD_USER_INPUT", "{replies}");
}

// ---------------------------------------------------------------------------------------------------
// The `hibernation:` section (docs/deployment-file.md, docs/hibernation.md; issue 26 §1 and §3).

const SET_HIBERNATION: &str = "mutation($d: Uuid!, $h: String, $w: String, $z: String, $awake: DateTime) { updateDeploymentHibernation(deploymentUuid: $d, hibernateAtCron: $h, wakeAtCron: $w, hibernationTimeZone: $z, awakeUntil: $awake) { id } }";
const HIBERNATION_FIELDS: &str = "query($d: String!) { deployment(where: {id: $d}) { isDevelopmentMode hibernateAtCron wakeAtCron hibernationTimeZone awakeUntil isHibernating status nextTransition { to } } }";

/// The world, plus development deployment "dev" in the same workspace, sleeping on weekday evenings in
/// Berlin (set through `updateDeploymentHibernation`). Returns its id.
async fn with_dev(w: &World) -> String {
    let created = w
        .app
        .gql(
            "mutation($w: Uuid!) { createDeployment(workspaceUuid: $w, label: \"dev\", isDevelopmentMode: true) { id } }",
            json!({"w": w.workspace}),
            Some(&w.root),
        )
        .await;
    let dev = created["data"]["createDeployment"]["id"].as_str().unwrap_or_else(|| panic!("{created}")).to_owned();
    let set = w
        .app
        .gql(
            SET_HIBERNATION,
            json!({"d": dev, "h": "0 20 * * MON-FRI", "w": "0 8 * * MON-FRI", "z": "Europe/Berlin"}),
            Some(&w.root),
        )
        .await;
    assert!(set.get("errors").is_none(), "{set}");
    dev
}

async fn export_of(w: &World, deployment: &str, format: &str) -> String {
    let body = w.app.gql(EXPORT, json!({"d": deployment, "f": format}), Some(&w.root)).await;
    body["data"]["deploymentFile"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned()
}

async fn hibernation_of(w: &World, deployment: &str) -> Value {
    let body = w.app.gql(HIBERNATION_FIELDS, json!({"d": deployment}), Some(&w.root)).await;
    assert!(body.get("errors").is_none(), "{body}");
    body["data"]["deployment"].clone()
}

/// A file for the dev deployment with `section` as its whole `hibernation:` section (YAML lines indented
/// by two spaces), nothing else but the label.
fn dev_file(section: &str) -> String {
    format!("apiVersion: capcom/v1\nlabel: dev\nhibernation:\n{section}")
}

#[tokio::test]
async fn the_export_holds_the_schedule_and_applying_it_back_changes_nothing() {
    let w = world().await;
    let dev = with_dev(&w).await;
    let json_text = export_of(&w, &dev, "JSON").await;
    let parsed: Value = serde_json::from_str(&json_text).unwrap();
    assert_eq!(
        parsed["hibernation"],
        json!({
            "developmentMode": true,
            "hibernateAtCron": "0 20 * * MON-FRI",
            "wakeAtCron": "0 8 * * MON-FRI",
            "timeZone": "Europe/Berlin",
        }),
        "{json_text}"
    );
    let yaml = export_of(&w, &dev, "YAML").await;
    assert!(yaml.contains("hibernation:\n  developmentMode: true\n"), "{yaml}");
    assert!(yaml.contains("\n  timeZone: Europe/Berlin\n"), "{yaml}");

    // Round trip, with an override in force too: the override is not part of the file, and is kept.
    let awake = (w.app.state.clock.now() + chrono::Duration::hours(2)).to_rfc3339();
    let set = w
        .app
        .gql(
            SET_HIBERNATION,
            json!({"d": dev, "h": "0 20 * * MON-FRI", "w": "0 8 * * MON-FRI", "z": "Europe/Berlin", "awake": awake}),
            Some(&w.root),
        )
        .await;
    assert!(set.get("errors").is_none(), "{set}");
    assert_eq!(export_of(&w, &dev, "YAML").await, yaml, "an override is not declared state");
    let before = w.app.deployment_snapshot().await;
    for file in [&yaml, &json_text] {
        for dry_run in [true, false] {
            let body = apply(&w, file, dry_run, &w.root).await;
            assert_eq!(body["data"]["applyDeploymentFile"]["changes"], json!([]), "{body}");
            assert_eq!(body["data"]["applyDeploymentFile"]["deployment"]["id"], dev.as_str());
        }
    }
    assert_eq!(w.app.deployment_snapshot().await, before, "a round trip writes nothing, not even an audit event");
    assert!(!hibernation_of(&w, &dev).await["awakeUntil"].is_null(), "the override is still in force");
}

#[tokio::test]
async fn a_dry_run_lists_schedule_changes_and_apply_sets_them_with_one_event() {
    let w = world().await;
    let dev = with_dev(&w).await;
    let file = dev_file(
        "  developmentMode: true\n  hibernateAtCron: '0 20 * * MON-FRI'\n  wakeAtCron: '0 7 * * MON-FRI'\n  timeZone: Europe/Paris\n",
    );
    let expected = json!([
        {"field": "hibernation.wakeAtCron", "old": "0 8 * * MON-FRI", "new": "0 7 * * MON-FRI"},
        {"field": "hibernation.timeZone", "old": "Europe/Berlin", "new": "Europe/Paris"},
    ]);
    let before = w.app.deployment_snapshot().await;
    let body = apply(&w, &file, true, &w.root).await;
    assert_eq!(body["data"]["applyDeploymentFile"]["changes"], expected, "{body}");
    assert_eq!(body["data"]["applyDeploymentFile"]["dryRun"], true);
    assert_eq!(w.app.deployment_snapshot().await, before, "a dry run writes nothing");

    let body = apply(&w, &file, false, &w.root).await;
    assert_eq!(body["data"]["applyDeploymentFile"]["changes"], expected, "{body}");
    let now = hibernation_of(&w, &dev).await;
    assert_eq!(
        (now["hibernateAtCron"].clone(), now["wakeAtCron"].clone(), now["hibernationTimeZone"].clone()),
        (json!("0 20 * * MON-FRI"), json!("0 7 * * MON-FRI"), json!("Europe/Paris")),
        "{now}"
    );
    assert!(!now["nextTransition"].is_null(), "the schedule is in force: {now}");
    assert_eq!(events(&w.app, "deployment.file.applied").await, 1);
    assert_eq!(events(&w.app, "deployment.hibernation.update").await, 1, "only the world's own mutation");

    // A file without the section keeps the schedule; a section without cron expressions clears it.
    let body = apply(&w, "apiVersion: capcom/v1\nlabel: dev\ndescription: kept\n", false, &w.root).await;
    assert_eq!(
        body["data"]["applyDeploymentFile"]["changes"],
        json!([{"field": "description", "old": "", "new": "kept"}]),
        "{body}"
    );
    let body = apply(&w, &dev_file("  developmentMode: true\n"), false, &w.root).await;
    assert_eq!(
        body["data"]["applyDeploymentFile"]["changes"],
        json!([
            {"field": "hibernation.hibernateAtCron", "old": "0 20 * * MON-FRI", "new": null},
            {"field": "hibernation.wakeAtCron", "old": "0 7 * * MON-FRI", "new": null},
            {"field": "hibernation.timeZone", "old": "Europe/Paris", "new": null},
        ]),
        "{body}"
    );
    let now = hibernation_of(&w, &dev).await;
    assert!(now["hibernateAtCron"].is_null() && now["nextTransition"].is_null(), "{now}");
}

#[tokio::test]
async fn a_new_schedule_that_says_asleep_hibernates_the_deployment_at_once() {
    let w = world().await;
    let dev = with_dev(&w).await;
    // Cleared (and so awake, whatever the hour of the run).
    let cleared = w.app.gql(SET_HIBERNATION, json!({"d": dev}), Some(&w.root)).await;
    assert!(cleared.get("errors").is_none(), "{cleared}");
    assert_eq!(hibernation_of(&w, &dev).await["isHibernating"], false);
    // The test clock to 30 seconds past the next full hour H (UTC): a schedule sleeping at H:00 and waking
    // at H+1:00 says "asleep" (the hibernation fired last).
    let now = w.app.state.clock.now();
    let hour = now.date_naive().and_hms_opt(now.hour(), 0, 30).unwrap().and_utc() + chrono::Duration::hours(1);
    w.app.clock.advance(hour - now);
    let (sleep, wake) = (format!("0 {} * * *", hour.hour()), format!("0 {} * * *", (hour.hour() + 1) % 24));
    let file = dev_file(&format!("  developmentMode: true\n  hibernateAtCron: '{sleep}'\n  wakeAtCron: '{wake}'\n"));
    let body = apply(&w, &file, false, &w.root).await;
    assert_eq!(
        body["data"]["applyDeploymentFile"]["changes"],
        json!([
            {"field": "hibernation.hibernateAtCron", "old": null, "new": sleep},
            {"field": "hibernation.wakeAtCron", "old": null, "new": wake},
            {"field": "hibernation.timeZone", "old": null, "new": "UTC"},
        ]),
        "a time zone left out is UTC, as for updateDeploymentHibernation: {body}"
    );
    let now = hibernation_of(&w, &dev).await;
    assert_eq!((now["isHibernating"].clone(), now["status"].clone()), (json!(true), json!("HIBERNATING")), "{now}");
    assert_eq!(now["nextTransition"]["to"], "AWAKE");
    let audit = w.app.text("SELECT after::text AS t FROM audit_events WHERE action = 'deployment.file.applied'").await;
    let audit: Value = serde_json::from_str(&audit).unwrap();
    assert_eq!(audit["isHibernating"], true, "the event says the deployment went to sleep: {audit}");
    // The file without a time zone, applied again, is the same schedule.
    let again = apply(&w, &file, false, &w.root).await;
    assert_eq!(again["data"]["applyDeploymentFile"]["changes"], json!([]), "{again}");
}

#[tokio::test]
async fn a_file_creates_a_development_deployment_with_its_schedule() {
    let w = world().await;
    let file = json!({
        "apiVersion": "capcom/v1", "label": "nightly",
        "hibernation": {"developmentMode": true, "hibernateAtCron": "0 20 * * *", "wakeAtCron": "0 8 * * *", "timeZone": "America/New_York"},
    })
    .to_string();
    let body = apply(&w, &file, true, &w.root).await;
    let changes = body["data"]["applyDeploymentFile"]["changes"].as_array().cloned().unwrap_or_default();
    for (field, new) in [
        ("hibernation.developmentMode", "true"),
        ("hibernation.hibernateAtCron", "0 20 * * *"),
        ("hibernation.wakeAtCron", "0 8 * * *"),
        ("hibernation.timeZone", "America/New_York"),
    ] {
        assert!(changes.contains(&json!({"field": field, "old": null, "new": new})), "{field}: {body}");
    }
    assert_eq!(w.app.count("SELECT count(*) AS n FROM deployments WHERE label = 'nightly'").await, 0);

    let body = apply(&w, &file, false, &w.root).await;
    let applied = &body["data"]["applyDeploymentFile"];
    assert_eq!(applied["created"], true, "{body}");
    let id = applied["deployment"]["id"].as_str().unwrap().to_owned();
    let now = hibernation_of(&w, &id).await;
    assert_eq!(now["isDevelopmentMode"], true, "{now}");
    assert_eq!(now["hibernateAtCron"], "0 20 * * *");
    assert_eq!(now["wakeAtCron"], "0 8 * * *");
    assert_eq!(now["hibernationTimeZone"], "America/New_York");
    assert!(!now["nextTransition"].is_null(), "{now}");
    assert_eq!(events(&w.app, "deployment.file.applied").await, 1);
    assert_eq!(events(&w.app, "deployment.hibernation.update").await, 0, "one event for the whole apply");
    let again = apply(&w, &file, false, &w.root).await;
    assert_eq!(again["data"]["applyDeploymentFile"]["changes"], json!([]), "{again}");

    // Without the section a file makes a deployment that is not in development mode, as createDeployment.
    let body = apply(&w, "apiVersion: capcom/v1\nlabel: plain\n", false, &w.root).await;
    let changes = body["data"]["applyDeploymentFile"]["changes"].as_array().cloned().unwrap_or_default();
    assert!(changes.contains(&json!({"field": "hibernation.developmentMode", "old": null, "new": "false"})), "{body}");
}

#[tokio::test]
async fn schedule_errors_name_the_path_and_change_nothing() {
    let w = world().await;
    let _dev = with_dev(&w).await;
    let schedule = "  hibernateAtCron: '0 20 * * *'\n  wakeAtCron: '0 8 * * *'\n";
    let cases: Vec<(String, &str, &str)> = vec![
        (
            dev_file("  developmentMode: true\n  hibernateAtCron: '0 25 * * *'\n  wakeAtCron: '0 8 * * *'\n"),
            "hibernation.hibernateAtCron",
            "not a cron expression",
        ),
        (dev_file("  hibernateAtCron: '0 20 * * *'\n  wakeAtCron: every morning\n"), "hibernation.wakeAtCron", "cron"),
        (dev_file("  hibernateAtCron: '0 20 * * *'\n"), "hibernation.wakeAtCron", "both"),
        (dev_file(&format!("{schedule}  timeZone: Mars/Olympus\n")), "hibernation.timeZone", "time zone"),
        (dev_file("  timeZone: Europe/Berlin\n"), "hibernation.timeZone", "timeZone applies to a schedule"),
        (dev_file("  developmentMode: false\n"), "hibernation.developmentMode", "fixed"),
        // `etl` is not a development deployment.
        (
            format!("apiVersion: capcom/v1\nlabel: etl\nhibernation:\n{schedule}"),
            "hibernation.hibernateAtCron",
            "Only development deployments",
        ),
        (
            "apiVersion: capcom/v1\nlabel: etl\nhibernation:\n  developmentMode: true\n".to_owned(),
            "hibernation.developmentMode",
            "fixed",
        ),
        // A new deployment is a development deployment only when the file says so.
        (
            format!("apiVersion: capcom/v1\nlabel: new one\nhibernation:\n{schedule}"),
            "hibernation.hibernateAtCron",
            "Only development deployments",
        ),
        // Overrides are not part of the format; wrong types name the line.
        (dev_file("  hibernateUntil: 2030-01-01T00:00:00Z\n"), "hibernation.hibernateUntil", "unknown field"),
        (dev_file("  developmentMode: maybe\n"), "hibernation.developmentMode", "line 4"),
    ];
    let before = w.app.deployment_snapshot().await;
    for (file, field, says) in &cases {
        for dry_run in [true, false] {
            let body = apply(&w, file, dry_run, &w.root).await;
            assert_eq!(error_code(&body), "BAD_USER_INPUT", "{file}: {body}");
            assert_eq!(body["errors"][0]["extensions"]["field"], *field, "{file}: {body}");
            let message = error_message(&body);
            assert!(message.contains(says), "{file}: {body}");
            assert!(message.starts_with(field), "the message names the path: {body}");
        }
    }
    assert_eq!(w.app.deployment_snapshot().await, before, "a refused file changes nothing");
}

/// Changing the schedule through a file needs what `updateDeploymentHibernation` needs
/// (`deployment.config.update` on the deployment, docs/hibernation.md): holding other deployment rights
/// is not enough, on update as on creation.
#[tokio::test]
async fn a_schedule_change_needs_the_hibernation_mutations_permission() {
    let w = world().await;
    let dev = with_dev(&w).await;
    let orgs = w.app.gql("{ organizations { id } }", json!({}), Some(&w.root)).await;
    let org = orgs["data"]["organizations"][0]["id"].as_str().unwrap_or_else(|| panic!("{orgs}")).to_owned();
    let create_role = "mutation($org: Uuid!, $scope: RoleScope!, $name: String!, $permissions: [String!]!) { createCustomRole(organizationUuid: $org, scope: $scope, name: $name, permissions: $permissions) { id } }";
    let role = |scope: &'static str, name: &'static str, permissions: &'static [&'static str]| {
        let app = &w.app;
        let (root, org) = (w.root.clone(), org.clone());
        async move {
            let body = app
                .gql(
                    create_role,
                    json!({"org": org, "scope": scope, "name": name, "permissions": permissions}),
                    Some(&root),
                )
                .await;
            body["data"]["createCustomRole"]["id"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned()
        }
    };

    // A user with every deployment right but the settings': reads, deploys, manages members.
    let deployer = role(
        "DEPLOYMENT",
        "Deployer",
        &["deployment.config.get", "deployment.users.get", "deployment.images.push", "deployment.iam.update"],
    )
    .await;
    w.app.sign_up("deployer@example.com", "correct horse battery").await;
    let added = w.app.add_to_workspace(&w.root, &w.workspace, "deployer@example.com", "WORKSPACE_VIEWER").await;
    assert!(added.get("errors").is_none(), "{added}");
    let given = w
        .app
        .gql(
            "mutation($d: Id!, $c: Uuid!) { deploymentAddUserRole(email: \"deployer@example.com\", deploymentId: $d, customRoleUuid: $c) { id } }",
            json!({"d": dev, "c": deployer}),
            Some(&w.root),
        )
        .await;
    assert!(given.get("errors").is_none(), "{given}");
    let token =
        w.app.sign_in("deployer@example.com", "correct horse battery").await["data"]["createToken"]["token"]["value"]
            .as_str()
            .unwrap()
            .to_owned();
    let before = w.app.deployment_snapshot().await;
    let direct = w.app.gql(SET_HIBERNATION, json!({"d": dev, "h": "0 21 * * *", "w": "0 7 * * *"}), Some(&token)).await;
    assert_eq!(error_code(&direct), "FORBIDDEN", "the mutation itself: {direct}");
    let file = dev_file("  developmentMode: true\n  hibernateAtCron: '0 21 * * *'\n  wakeAtCron: '0 7 * * *'\n");
    for dry_run in [true, false] {
        let body = apply(&w, &file, dry_run, &token).await;
        assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
    }
    assert_eq!(w.app.deployment_snapshot().await, before, "nothing changed");
    assert_eq!(hibernation_of(&w, &dev).await["hibernateAtCron"], "0 20 * * MON-FRI");

    // An API key that may create deployments in the workspace but could not read them (a custom workspace
    // role implies nothing on deployments, and a key gets no role on what it creates): creating is refused
    // before anything is written, by createDeployment and by a file alike, schedule or not. (Before, the
    // deployment was written and the key answered FORBIDDEN, so CI retried into orphans.)
    let creator = role(
        "WORKSPACE",
        "Creator",
        &["workspace.config.get", "workspace.deployments.get", "workspace.deployments.create"],
    )
    .await;
    let key = w
        .app
        .gql(
            "mutation($w: Uuid!, $c: Uuid!) { createWorkspaceServiceAccount(label: \"ci\", workspaceUuid: $w, customRoleUuid: $c) { apiKey } }",
            json!({"w": w.workspace, "c": creator}),
            Some(&w.root),
        )
        .await;
    let key =
        key["data"]["createWorkspaceServiceAccount"]["apiKey"].as_str().unwrap_or_else(|| panic!("{key}")).to_owned();
    let before = w.app.deployment_snapshot().await;
    let created = w
        .app
        .gql(
            "mutation($w: Uuid!) { createDeployment(workspaceUuid: $w, label: \"by key\", isDevelopmentMode: true) { id } }",
            json!({"w": w.workspace}),
            Some(&key),
        )
        .await;
    assert_eq!(error_code(&created), "FORBIDDEN", "{created}");
    let cluster = w.app.text("SELECT id::text AS t FROM clusters ORDER BY created_at LIMIT 1").await;
    let adopted = w
        .app
        .gql(
            "mutation($w: Uuid!, $c: Uuid!) { adoptDeployment(workspaceUuid: $w, clusterId: $c, crNamespace: \"adopt-ns\", crName: \"adopted-one\", label: \"adopted\") { id } }",
            json!({"w": w.workspace, "c": cluster}),
            Some(&key),
        )
        .await;
    assert_eq!(error_code(&adopted), "FORBIDDEN", "{adopted}");
    let scheduled = "apiVersion: capcom/v1\nlabel: keyed\nhibernation:\n  developmentMode: true\n  hibernateAtCron: '0 21 * * *'\n  wakeAtCron: '0 7 * * *'\n";
    let plain = "apiVersion: capcom/v1\nlabel: keyed\nhibernation:\n  developmentMode: true\n";
    for file in [scheduled, plain] {
        for dry_run in [true, false] {
            let body = apply(&w, file, dry_run, &key).await;
            assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
        }
    }
    assert_eq!(w.app.deployment_snapshot().await, before, "nothing created");
    assert_eq!(
        w.app.count("SELECT count(*) AS n FROM deployments WHERE label IN ('by key', 'keyed', 'adopted')").await,
        0
    );
    // The same key with a built-in role that reads the workspace's deployments creates them.
    let editor = w
        .app
        .gql(
            "mutation($w: Uuid!) { createWorkspaceServiceAccount(label: \"ci2\", workspaceUuid: $w, role: WORKSPACE_EDITOR) { apiKey } }",
            json!({"w": w.workspace}),
            Some(&w.root),
        )
        .await;
    let editor = editor["data"]["createWorkspaceServiceAccount"]["apiKey"]
        .as_str()
        .unwrap_or_else(|| panic!("{editor}"))
        .to_owned();
    let body = apply(&w, plain, false, &editor).await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(
        w.app.count("SELECT count(*) AS n FROM deployments WHERE label = 'keyed' AND is_development_mode").await,
        1
    );
}

/// SPEC §7: a small file does not become a large one. Aliases of a 65 000-byte value repeated a thousand
/// times (an 89 KB file) used to store 65 MB of variables; the file is refused before anything is built,
/// dry or not, and nothing changes.
#[tokio::test]
async fn aliases_that_repeat_large_values_are_refused_before_anything_is_built() {
    let w = world().await;
    let mut bomb = format!(
        "apiVersion: capcom/v1\nlabel: bomb\nenvironmentVariables:\n- key: K0\n  value: &v '{}'\n",
        "A".repeat(65_000)
    );
    for n in 1..1000 {
        bomb.push_str(&format!("- key: K{n}\n  value: *v\n"));
    }
    let before = w.app.deployment_snapshot().await;
    let variables = w.app.count("SELECT count(*) AS n FROM environment_variables").await;
    for dry in [true, false] {
        let body = apply(&w, &bomb, dry, &w.root).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], "file", "{body}");
        assert!(body["errors"][0]["message"].as_str().unwrap().contains("aliases"), "{body}");
    }
    assert_eq!(w.app.deployment_snapshot().await, before);
    assert_eq!(w.app.count("SELECT count(*) AS n FROM environment_variables").await, variables);
}

/// PostgreSQL stores no NUL character: one in any text of a file (a description, a variable's key or
/// value, a secret, a role's user or team, the schedule, written `\0` in YAML or `\u0000` in JSON) is
/// BAD_USER_INPUT naming its path, dry run or not, on update and on create, and nothing is written.
#[tokio::test]
async fn a_nul_anywhere_in_a_file_is_bad_input_naming_its_path() {
    let w = world().await;
    let before = w.app.deployment_snapshot().await;
    let events_before = w.app.count("SELECT count(*) AS n FROM audit_events").await;
    let base = yaml_of(&w);
    let cases: Vec<(String, &str)> = vec![
        (base.replace("description: ''", "description: \"a\\0b\""), "description"),
        (base.replace("  value: '1'", "  value: \"1\\0\""), "environmentVariables[0].value"),
        (base.replace("- key: PLAIN", "- key: \"PL\\0AIN\""), "environmentVariables[0].key"),
        (base.replace("  isSecret: true", "  isSecret: true\n  value: \"x\\0\""), "environmentVariables[1].value"),
        (base.replace("- user: editor@example.com", "- user: \"editor\\0@example.com\""), "roles[0].user"),
        (
            base.replace("hibernation:\n  developmentMode: false", "hibernation:\n  developmentMode: true\n  timeZone: \"UTC\\0\""),
            "hibernation.timeZone",
        ),
        ("apiVersion: capcom/v1\nlabel: brand new\ndescription: \"\\0\"\n".to_owned(), "description"),
        (
            r#"{"apiVersion": "capcom/v1", "label": "etl", "environmentVariables": [{"key": "X", "value": "a\u0000b"}]}"#.to_owned(),
            "environmentVariables[0].value",
        ),
        (r#"{"apiVersion": "capcom/v1", "label": "json new", "description": "\u0000"}"#.to_owned(), "description"),
    ];
    for (file, field) in &cases {
        for dry_run in [true, false] {
            let body = apply(&w, file, dry_run, &w.root).await;
            assert_eq!(error_code(&body), "BAD_USER_INPUT", "{file}: {body}");
            assert_eq!(body["errors"][0]["extensions"]["field"], *field, "{file}: {body}");
            let message = body["errors"][0]["message"].as_str().unwrap();
            assert!(message.contains("NUL"), "{message}");
            assert!(!message.contains('\0'), "the value is not echoed: {message:?}");
        }
    }
    assert_eq!(w.app.deployment_snapshot().await, before);
    assert_eq!(w.app.count("SELECT count(*) AS n FROM audit_events").await, events_before);
}

/// Who is in the workspace is what `workspaceUsers` tells: an applier who may not change the
/// deployment's roles gets the same FORBIDDEN for a name that means a member, someone outside the
/// workspace, no one, and no team, dry run or not; one who may gets BAD_USER_INPUT naming the entry.
#[tokio::test]
async fn the_roles_section_is_no_oracle_of_who_is_in_the_workspace() {
    let w = world().await;
    let editor =
        w.app.sign_in("editor@example.com", "correct horse battery").await["data"]["createToken"]["token"]["value"]
            .as_str()
            .unwrap()
            .to_owned();
    // A member of the workspace without a role on the deployment, and someone outside it.
    w.app.sign_up("member@example.com", "correct horse battery").await;
    let added = w.app.add_to_workspace(&w.root, &w.workspace, "member@example.com", "WORKSPACE_VIEWER").await;
    assert!(added.get("errors").is_none(), "{added}");
    w.app.sign_up("outsider@example.com", "correct horse battery").await;
    let with = |entry: &str| format!("{}- {entry}\n  role: DEPLOYMENT_VIEWER\n", yaml_of(&w));
    let before = w.app.deployment_snapshot().await;
    for dry_run in [true, false] {
        let mut answers = Vec::new();
        // (`editor@example.com` is listed already: listed twice, as resolved, tells the same nothing.)
        for entry in [
            "user: member@example.com",
            "user: outsider@example.com",
            "user: nobody@example.com",
            "team: No such team",
            "user: editor@example.com",
        ] {
            let body = apply(&w, &with(entry), dry_run, &editor).await;
            assert_eq!(error_code(&body), "FORBIDDEN", "{entry}: {body}");
            answers.push(body["errors"][0]["message"].clone());
        }
        assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
        // The workspace's admin is told what is wrong.
        for (entry, field) in [
            ("user: outsider@example.com", "roles[2].user"),
            ("user: nobody@example.com", "roles[2].user"),
            ("team: No such team", "roles[2].team"),
        ] {
            let body = apply(&w, &with(entry), dry_run, &w.root).await;
            assert_eq!(error_code(&body), "BAD_USER_INPUT", "{entry}: {body}");
            assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
        }
    }
    assert_eq!(w.app.deployment_snapshot().await, before);
    // The editor's own file, roles unchanged, still applies.
    let body = apply(&w, &yaml_of(&w).replace("  max: 10\n", "  max: 11\n"), false, &editor).await;
    assert_eq!(
        body["data"]["applyDeploymentFile"]["changes"],
        json!([{"field": "workers.max", "old": "10", "new": "11"}]),
        "{body}"
    );
}

/// A roles section is compared with who holds what on the deployment: an applier who may not read its
/// members (`deploymentUsers`) is refused any file with one, even the exact current list, so "no change"
/// against FORBIDDEN tells nothing; their own export has no roles section and applies.
#[tokio::test]
async fn a_roles_section_needs_reading_the_deployments_members() {
    let w = world().await;
    let org =
        w.app.text(&format!("SELECT organization_id::text AS t FROM workspaces WHERE id = '{}'", w.workspace)).await;
    const CREATE: &str = "mutation($o: Uuid!, $s: RoleScope!, $n: String!, $p: [String!]!) { createCustomRole(organizationUuid: $o, scope: $s, name: $n, permissions: $p) { id } }";
    let lister = w
        .app
        .gql(
            CREATE,
            json!({"o": org, "s": "WORKSPACE", "n": "Lister", "p": ["workspace.deployments.get"]}),
            Some(&w.root),
        )
        .await;
    let lister = lister["data"]["createCustomRole"]["id"].as_str().unwrap_or_else(|| panic!("{lister}")).to_owned();
    let tuner = w.app.gql(CREATE, json!({"o": org, "s": "DEPLOYMENT", "n": "Tuner", "p": ["deployment.config.get", "deployment.config.update"]}), Some(&w.root)).await;
    let tuner = tuner["data"]["createCustomRole"]["id"].as_str().unwrap_or_else(|| panic!("{tuner}")).to_owned();
    w.app.sign_up("tuner@example.com", "correct horse battery").await;
    let added = w.app.gql("mutation($w: Uuid!, $r: Uuid!) { workspaceAddUser(workspaceUuid: $w, email: \"tuner@example.com\", customRoleUuid: $r) { id } }", json!({"w": w.workspace, "r": lister}), Some(&w.root)).await;
    assert!(added.get("errors").is_none(), "{added}");
    let given = w.app.gql("mutation($d: Id!, $r: Uuid!) { deploymentAddUserRole(email: \"tuner@example.com\", deploymentId: $d, customRoleUuid: $r) { id } }", json!({"d": w.deployment, "r": tuner}), Some(&w.root)).await;
    assert!(given.get("errors").is_none(), "{given}");
    let token =
        w.app.sign_in("tuner@example.com", "correct horse battery").await["data"]["createToken"]["token"]["value"]
            .as_str()
            .unwrap()
            .to_owned();
    let members = w
        .app
        .gql("query($d: Id!) { deploymentUsers(deploymentId: $d) { id } }", json!({"d": w.deployment}), Some(&token))
        .await;
    assert_eq!(error_code(&members), "FORBIDDEN", "{members}");
    // The exact current list (with the tuner's own custom role), and a wrong guess: the same FORBIDDEN.
    let exact = format!("{}- user: tuner@example.com\n  role: DEPLOYMENT_CUSTOM\n", yaml_of(&w));
    let guess = exact.replace("role: DEPLOYMENT_EDITOR", "role: DEPLOYMENT_VIEWER");
    let before = w.app.deployment_snapshot().await;
    for file in [&exact, &guess] {
        let body = apply(&w, file, true, &token).await;
        assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
    }
    assert_eq!(w.app.deployment_snapshot().await, before);
    // Their own export has no roles section, and a change to it applies.
    let own = export(&w, "YAML", &token).await["data"]["deploymentFile"].as_str().unwrap().to_owned();
    assert!(!own.contains("roles:"), "{own}");
    let body = apply(&w, &own.replace("  max: 10\n", "  max: 12\n"), false, &token).await;
    assert_eq!(
        body["data"]["applyDeploymentFile"]["changes"],
        json!([{"field": "workers.max", "old": "10", "new": "12"}]),
        "{body}"
    );
}

/// Whether an address means a member of the workspace is what `workspaceUsers` tells: a person who may
/// create deployments but not list the workspace's members may name only themselves in the roles
/// section of a new deployment's file; a member, an outsider and no one all get the same FORBIDDEN, dry
/// run or not.
#[tokio::test]
async fn a_new_deployments_file_is_no_oracle_of_who_is_in_the_workspace() {
    let w = world().await;
    let org =
        w.app.text(&format!("SELECT organization_id::text AS t FROM workspaces WHERE id = '{}'", w.workspace)).await;
    let role = w
        .app
        .gql(
            "mutation($o: Uuid!) { createCustomRole(organizationUuid: $o, scope: WORKSPACE, name: \"Creator\", permissions: [\"workspace.config.get\", \"workspace.deployments.get\", \"workspace.deployments.create\"]) { id } }",
            json!({"o": org}),
            Some(&w.root),
        )
        .await;
    let role = role["data"]["createCustomRole"]["id"].as_str().unwrap_or_else(|| panic!("{role}")).to_owned();
    w.app.sign_up("maker@example.com", "correct horse battery").await;
    w.app.sign_up("outsider@example.com", "correct horse battery").await;
    let added = w
        .app
        .gql(
            "mutation($w: Uuid!, $r: Uuid!) { workspaceAddUser(workspaceUuid: $w, email: \"maker@example.com\", customRoleUuid: $r) { id } }",
            json!({"w": w.workspace, "r": role}),
            Some(&w.root),
        )
        .await;
    assert!(added.get("errors").is_none(), "{added}");
    let maker =
        w.app.sign_in("maker@example.com", "correct horse battery").await["data"]["createToken"]["token"]["value"]
            .as_str()
            .unwrap()
            .to_owned();
    let file = |other: &str| {
        format!(
            "apiVersion: capcom/v1\nlabel: probe\nroles:\n- user: maker@example.com\n  role: DEPLOYMENT_ADMIN\n- user: {other}\n  role: DEPLOYMENT_VIEWER\n"
        )
    };
    let before = w.app.deployment_snapshot().await;
    for dry_run in [true, false] {
        for other in ["editor@example.com", "outsider@example.com", "nobody@example.com"] {
            let body = apply(&w, &file(other), dry_run, &maker).await;
            assert_eq!(error_code(&body), "FORBIDDEN", "{other}: {body}");
        }
    }
    assert_eq!(w.app.deployment_snapshot().await, before);
    // Naming only themselves, the file creates the deployment.
    let own = "apiVersion: capcom/v1\nlabel: probe\nroles:\n- user: maker@example.com\n  role: DEPLOYMENT_ADMIN\n";
    let body = apply(&w, own, false, &maker).await;
    assert_eq!(body["data"]["applyDeploymentFile"]["created"], true, "{body}");
}

/// Team names are unique in ASCII case only, so `équipe` and `Équipe` may both exist: a file names a
/// team as written first (the export writes each team's name exactly, so applying it back changes
/// nothing), and a name two teams share in some case is refused rather than given to either.
#[tokio::test]
async fn a_team_is_named_as_written_and_a_name_two_teams_share_is_refused() {
    let w = world().await;
    let org =
        w.app.text(&format!("SELECT organization_id::text AS t FROM workspaces WHERE id = '{}'", w.workspace)).await;
    let mut teams = Vec::new();
    for name in ["équipe", "Équipe"] {
        let team = w
            .app
            .gql(
                "mutation($o: Uuid, $n: String!) { createTeam(organizationUuid: $o, name: $n) { id } }",
                json!({"o": org, "n": name}),
                Some(&w.root),
            )
            .await;
        let team = team["data"]["createTeam"]["id"].as_str().unwrap_or_else(|| panic!("{team}")).to_owned();
        let added = w
            .app
            .gql("mutation($w: Uuid!, $t: Uuid!) { workspaceAddTeam(workspaceUuid: $w, teamUuid: $t, role: WORKSPACE_VIEWER) { id } }", json!({"w": w.workspace, "t": team}), Some(&w.root))
            .await;
        assert!(added.get("errors").is_none(), "{added}");
        teams.push(team);
    }
    let given = w
        .app
        .gql("mutation($t: Uuid!, $d: Uuid!) { deploymentAddTeamRole(teamUuid: $t, deploymentUuid: $d, role: DEPLOYMENT_EDITOR) { id } }", json!({"t": teams[0], "d": w.deployment}), Some(&w.root))
        .await;
    assert!(given.get("errors").is_none(), "{given}");
    let exported = export(&w, "YAML", &w.root).await["data"]["deploymentFile"].as_str().unwrap().to_owned();
    assert!(exported.contains("team: équipe"), "{exported}");
    let body = apply(&w, &exported, true, &w.root).await;
    assert_eq!(body["data"]["applyDeploymentFile"]["changes"], json!([]), "the export applies back unchanged: {body}");
    // Written decomposed (`e` and a combining acute), as some editors write it: the same team.
    let decomposed = exported.replace("team: équipe", "team: e\u{301}quipe");
    let body = apply(&w, &decomposed, true, &w.root).await;
    assert_eq!(body["data"]["applyDeploymentFile"]["changes"], json!([]), "{body}");
    let shared = exported.replace("team: équipe", "team: ÉQUIPE");
    let body = apply(&w, &shared, true, &w.root).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
    assert!(body["errors"][0]["extensions"]["field"].as_str().unwrap_or_default().ends_with(".team"), "{body}");
}
