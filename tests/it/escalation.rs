//! Escalation closure (SPEC §2, the grant rule and "every path that grants a role applies it"): starting
//! from each principal of the world, a bounded search applies every operation that grants a role, makes
//! a credential (API key, invite), adds to a team, changes a team's roles or rotates a key, with arguments
//! drawn from the world (the principal itself, an accomplice account, teams holding high roles: one a
//! system admin made SYSTEM_ADMIN, one owning A, one holding WORKSPACE_ADMIN of W, tenant B's objects).
//! After each step that succeeded, the server is asked what the principal and every credential it made
//! may do (`can(permission, scope)` for every SPEC permission on A, B, W, B's workspace, D, B's
//! deployment, and the system), and nothing may hold a permission the principal did not hold at the
//! start (accounts it made may also hold what a plain new account holds). Tenant B's workspace and
//! deployment must stay unreadable.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::expectations::{PASSWORD, Principal, World, mailed_token, ok};

const SYSTEM: &[&str] = &[
    "system.workspace.get",
    "system.deployments.get",
    "system.users.get",
    "system.invites.get",
    "system.serviceAccounts.get",
    "system.organizations.get",
    "system.auditLogs.get",
    "system.airflow.get",
    "system.monitoring.get",
    "system.iam.update",
    "system.serviceAccounts.update",
    "system.airflow.user",
    "system.deployments.update",
    "system.deployments.delete",
    "system.serviceAccounts.create",
    "system.serviceAccounts.delete",
    "system.user.invite",
    "system.user.delete",
    "system.user.verifyEmail",
    "system.workspace.delete",
    "system.organizations.create",
    "system.clusters.update",
    "system.airflow.admin",
];
const ORGANIZATION: &[&str] = &[
    "organization.config.get",
    "organization.users.get",
    "organization.teams.get",
    "organization.clusters.get",
    "organization.workspaces.create",
    "organization.config.update",
    "organization.billing.update",
    "organization.authentication.update",
    "organization.iam.update",
    "organization.users.invite",
    "organization.teams.update",
    "organization.serviceAccounts.get",
    "organization.serviceAccounts.create",
    "organization.serviceAccounts.update",
    "organization.serviceAccounts.delete",
    "organization.auditLogs.get",
    "organization.clusters.update",
];
const WORKSPACE: &[&str] = &[
    "workspace.config.get",
    "workspace.users.get",
    "workspace.teams.get",
    "workspace.invites.get",
    "workspace.deployments.get",
    "workspace.serviceAccounts.get",
    "workspace.config.update",
    "workspace.deployments.create",
    "workspace.serviceAccounts.create",
    "workspace.serviceAccounts.update",
    "workspace.serviceAccounts.delete",
    "workspace.config.delete",
    "workspace.iam.update",
    "workspace.auditLogs.get",
];
const DEPLOYMENT: &[&str] = &[
    "deployment.config.get",
    "deployment.users.get",
    "deployment.serviceAccounts.get",
    "deployment.airflow.get",
    "deployment.images.pull",
    "deployment.config.update",
    "deployment.images.push",
    "deployment.airflow.user",
    "deployment.serviceAccounts.create",
    "deployment.serviceAccounts.update",
    "deployment.serviceAccounts.delete",
    "deployment.config.delete",
    "deployment.iam.update",
    "deployment.airflow.admin",
];

/// What a token may do: `permission@scope-name` for every permission the server grants it, plus
/// `read@wB` / `read@dB` when tenant B's workspace or deployment can be read.
async fn effective(world: &World, token: &str) -> BTreeSet<String> {
    let v = &world.vars;
    let mut checks: Vec<(String, String, Option<String>)> = Vec::new();
    for p in SYSTEM {
        checks.push((p.to_string(), "system".into(), None));
    }
    for (name, scope, perms) in [
        ("A", "org", ORGANIZATION),
        ("B", "orgB", ORGANIZATION),
        ("W", "w", WORKSPACE),
        ("WB", "wB", WORKSPACE),
        ("D", "d", DEPLOYMENT),
        ("DB", "dB", DEPLOYMENT),
    ] {
        for p in perms {
            checks.push((p.to_string(), name.into(), Some(v[scope].clone())));
        }
    }
    // Up to 20 aliases per operation and 10 operations per batch (SPEC §7 limits).
    let mut batch = Vec::new();
    for chunk in checks.chunks(20) {
        let fields: Vec<String> = chunk
            .iter()
            .enumerate()
            .map(|(i, (p, _, scope))| match scope {
                Some(s) => format!("c{i}: can(permission: \"{p}\", scopeId: \"{s}\")"),
                None => format!("c{i}: can(permission: \"{p}\")"),
            })
            .collect();
        batch.push(json!({"query": format!("{{ {} }}", fields.join(" "))}));
    }
    batch.push(json!({
        "query": "query($wB: Uuid!) { workspace(workspaceUuid: $wB) { id } }",
        "variables": {"wB": v["wB"]},
    }));
    batch.push(json!({
        "query": "query($dB: String!) { deployment(where: {id: $dB}) { id } }",
        "variables": {"dB": v["dB"]},
    }));
    let response = world
        .app
        .client
        .post(format!("{}/v1", world.app.base))
        .header("Authorization", token)
        .json(&Value::Array(batch))
        .send()
        .await
        .expect("request");
    let answers: Value = response.json().await.expect("JSON body");
    let answers = answers.as_array().unwrap_or_else(|| panic!("batched answer: {answers}"));
    let mut held = BTreeSet::new();
    for (n, chunk) in checks.chunks(20).enumerate() {
        for (i, (p, scope, _)) in chunk.iter().enumerate() {
            if answers[n]["data"][format!("c{i}")] == json!(true) {
                held.insert(format!("{p}@{scope}"));
            }
        }
    }
    let reads = checks.chunks(20).count();
    if answers[reads]["data"]["workspace"]["id"].is_string() {
        held.insert("read@WB".into());
    }
    if answers[reads + 1]["data"]["deployment"]["id"].is_string() {
        held.insert("read@DB".into());
    }
    held
}

/// A credential the search holds: the principal itself, its accomplice, or something it made.
struct Credential {
    label: String,
    token: String,
    /// What it may hold without an escalation.
    ceiling: BTreeSet<String>,
}

/// One attempted step: a label, a document, its variables, and what to do with a success.
struct Step {
    label: String,
    doc: String,
    vars: Value,
    then: Then,
}

enum Then {
    Nothing,
    /// The answer holds a new key at this field: a credential.
    Key(&'static str),
    /// A new team (its id at this field) to use in later steps.
    Team(&'static str),
    /// An invite was mailed to this address: sign up with it.
    SignUp(String),
}

fn step(label: impl Into<String>, doc: &str, vars: Value, then: Then) -> Step {
    Step { label: label.into(), doc: doc.to_owned(), vars, then }
}

/// The search for one principal; returns the escalations found.
async fn search(world: &World, principal: &Principal, teams: &[(String, String)]) -> Vec<String> {
    let app = &world.app;
    let v = &world.vars;
    let token = principal.token.clone().expect("a signed-in principal");
    let start = effective(world, &token).await;
    // An accomplice: a plain new account (a member of A, as every public sign-up is).
    let acc_email = format!("acc-{}@example.com", principal.name);
    let (acc_token, acc_id) = app.sign_up(&acc_email, PASSWORD).await;
    let plain = effective(world, &acc_token).await;
    let ceiling: BTreeSet<String> = start.union(&plain).cloned().collect();
    let mut credentials = vec![
        Credential { label: format!("{} itself", principal.name), token: token.clone(), ceiling: start.clone() },
        Credential { label: "its accomplice".into(), token: acc_token, ceiling: ceiling.clone() },
    ];
    let mut subjects = vec![(acc_email.clone(), acc_id.clone())];
    if let (Some(email), Some(id)) = (&principal.email, &principal.id) {
        subjects.push((email.clone(), id.clone()));
    }
    let mut teams: Vec<(String, String)> = teams.to_vec();
    let mut found = Vec::new();
    let mut fresh = 0;
    for round in 0..2 {
        let mut steps = Vec::new();
        for (email, id) in &subjects {
            let who = if *id == acc_id { "accomplice" } else { "itself" };
            let ev = json!({"e": email, "u": id, "w": v["w"], "wB": v["wB"], "d": v["d"], "org": v["org"], "orgB": v["orgB"]});
            for (label, doc) in [
                (
                    "workspaceAddUser WA",
                    "mutation($w: Uuid!, $e: String!) { workspaceAddUser(workspaceUuid: $w, email: $e, role: WORKSPACE_ADMIN) { id } }",
                ),
                (
                    "workspaceUpsertUserRole WA",
                    "mutation($w: Uuid!, $e: String!) { workspaceUpsertUserRole(workspaceUuid: $w, email: $e, role: WORKSPACE_ADMIN) }",
                ),
                (
                    "workspaceUpdateUserRole WA",
                    "mutation($w: Uuid!, $e: String!) { workspaceUpdateUserRole(workspaceUuid: $w, email: $e, role: WORKSPACE_ADMIN) }",
                ),
                (
                    "workspaceAddUser WA of B",
                    "mutation($wB: Uuid!, $e: String!) { workspaceAddUser(workspaceUuid: $wB, email: $e, role: WORKSPACE_ADMIN) { id } }",
                ),
                (
                    "deploymentAddUserRole DA",
                    "mutation($d: Id!, $e: String!) { deploymentAddUserRole(email: $e, deploymentId: $d, role: DEPLOYMENT_ADMIN) { id } }",
                ),
                (
                    "deploymentUpdateUserRole DA",
                    "mutation($d: Id!, $e: String!) { deploymentUpdateUserRole(email: $e, deploymentId: $d, role: DEPLOYMENT_ADMIN) { id } }",
                ),
                (
                    "organizationUpdateUserRole OWNER",
                    "mutation($org: Uuid!, $u: Uuid!) { organizationUpdateUserRole(organizationUuid: $org, userUuid: $u, role: ORGANIZATION_OWNER) }",
                ),
                (
                    "organizationUpdateUserRole BILLING",
                    "mutation($org: Uuid!, $u: Uuid!) { organizationUpdateUserRole(organizationUuid: $org, userUuid: $u, role: ORGANIZATION_BILLING_ADMIN) }",
                ),
                (
                    "organizationInviteUser OWNER of A",
                    "mutation($org: Uuid!, $e: String!) { organizationInviteUser(organizationUuid: $org, email: $e, role: ORGANIZATION_OWNER) { role } }",
                ),
                (
                    "organizationInviteUser OWNER of B",
                    "mutation($orgB: Uuid!, $e: String!) { organizationInviteUser(organizationUuid: $orgB, email: $e, role: ORGANIZATION_OWNER) { role } }",
                ),
                (
                    "createSystemRoleBinding SYSTEM_ADMIN",
                    "mutation($u: Uuid!) { createSystemRoleBinding(userId: $u, role: SYSTEM_ADMIN) { role } }",
                ),
                (
                    "createSystemRoleBinding SYSTEM_EDITOR",
                    "mutation($u: Uuid!) { createSystemRoleBinding(userId: $u, role: SYSTEM_EDITOR) { role } }",
                ),
            ] {
                steps.push(step(format!("{label} ({who})"), doc, ev.clone(), Then::Nothing));
            }
            for (team_name, team) in &teams {
                steps.push(step(
                    format!("teamAddUser {team_name} ({who})"),
                    "mutation($t: Uuid!, $u: Uuid!) { teamAddUser(teamUuid: $t, userUuid: $u) { id } }",
                    json!({"t": team, "u": id}),
                    Then::Nothing,
                ));
            }
        }
        for (team_name, team) in &teams {
            let tv = json!({"t": team, "w": v["w"], "d": v["d"], "org": v["org"], "orgB": v["orgB"]});
            for (label, doc) in [
                (
                    "workspaceAddTeam WA",
                    "mutation($w: Uuid!, $t: Uuid!) { workspaceAddTeam(workspaceUuid: $w, teamUuid: $t, role: WORKSPACE_ADMIN) { id } }",
                ),
                (
                    "workspaceUpdateTeamRole WA",
                    "mutation($w: Uuid!, $t: Uuid!) { workspaceUpdateTeamRole(workspaceUuid: $w, teamUuid: $t, role: WORKSPACE_ADMIN) }",
                ),
                (
                    "deploymentAddTeamRole DA",
                    "mutation($d: Uuid!, $t: Uuid!) { deploymentAddTeamRole(teamUuid: $t, deploymentUuid: $d, role: DEPLOYMENT_ADMIN) { id } }",
                ),
                (
                    "deploymentUpdateTeamRole DA",
                    "mutation($d: Uuid!, $t: Uuid!) { deploymentUpdateTeamRole(deploymentUuid: $d, teamUuid: $t, role: DEPLOYMENT_ADMIN) { id } }",
                ),
                (
                    "organizationUpdateTeamRole OWNER of A",
                    "mutation($org: Uuid!, $t: Uuid!) { organizationUpdateTeamRole(organizationUuid: $org, teamUuid: $t, role: ORGANIZATION_OWNER) { id } }",
                ),
                (
                    "organizationUpdateTeamRole OWNER of B",
                    "mutation($orgB: Uuid!, $t: Uuid!) { organizationUpdateTeamRole(organizationUuid: $orgB, teamUuid: $t, role: ORGANIZATION_OWNER) { id } }",
                ),
                (
                    "createTeamSystemRoleBinding SYSTEM_ADMIN",
                    "mutation($t: Uuid!) { createTeamSystemRoleBinding(teamUuid: $t, role: SYSTEM_ADMIN) { role } }",
                ),
            ] {
                steps.push(step(format!("{label} on {team_name}"), doc, tv.clone(), Then::Nothing));
            }
        }
        steps.push(step(
            "createTeam",
            "mutation($org: Uuid!, $n: String!) { createTeam(organizationUuid: $org, name: $n) { id } }",
            json!({"org": v["org"], "n": format!("made by {} {round}", principal.name)}),
            Then::Team("createTeam"),
        ));
        // API keys: new ones at the top role of each scope, and existing viewer keys (and the principal's
        // own key) raised, then rotated so their key is in hand.
        let kv = json!({"w": v["w"], "wB": v["wB"], "d": v["d"], "org": v["org"], "n": format!("key-{}-{round}", principal.name)});
        for (label, doc, field) in [
            (
                "createWorkspaceServiceAccount WA",
                "mutation($w: Uuid!, $n: String!) { createWorkspaceServiceAccount(label: $n, workspaceUuid: $w, role: WORKSPACE_ADMIN) { apiKey } }",
                "createWorkspaceServiceAccount",
            ),
            (
                "createWorkspaceServiceAccount WA of B",
                "mutation($wB: Uuid!, $n: String!) { createWorkspaceServiceAccount(label: $n, workspaceUuid: $wB, role: WORKSPACE_ADMIN) { apiKey } }",
                "createWorkspaceServiceAccount",
            ),
            (
                "createDeploymentServiceAccount DA",
                "mutation($d: Uuid!, $n: String!) { createDeploymentServiceAccount(label: $n, deploymentUuid: $d, role: DEPLOYMENT_ADMIN) { apiKey } }",
                "createDeploymentServiceAccount",
            ),
            (
                "createOrganizationServiceAccount OWNER",
                "mutation($org: Uuid!, $n: String!) { createOrganizationServiceAccount(label: $n, organizationUuid: $org, role: ORGANIZATION_OWNER) { apiKey } }",
                "createOrganizationServiceAccount",
            ),
            (
                "createSystemServiceAccount SYSTEM_ADMIN",
                "mutation($n: String!) { createSystemServiceAccount(label: $n, role: SYSTEM_ADMIN) { apiKey } }",
                "createSystemServiceAccount",
            ),
        ] {
            steps.push(step(label, doc, kv.clone(), Then::Key(field)));
        }
        let mut raise = vec![
            (
                "wsa".to_owned(),
                v["wsa"].clone(),
                "updateWorkspaceServiceAccount",
                "workspaceUuid",
                v["w"].clone(),
                "WORKSPACE_ADMIN",
            ),
            (
                "dsa".to_owned(),
                v["dsa"].clone(),
                "updateDeploymentServiceAccount",
                "deploymentUuid",
                v["d"].clone(),
                "DEPLOYMENT_ADMIN",
            ),
            (
                "osa".to_owned(),
                v["osa"].clone(),
                "updateOrganizationServiceAccount",
                "organizationUuid",
                v["org"].clone(),
                "ORGANIZATION_OWNER",
            ),
        ];
        if let (crate::expectations::Kind::WorkspaceKey(_), Some(id)) = (principal.kind, &principal.id) {
            raise.push((
                "itself".into(),
                id.clone(),
                "updateWorkspaceServiceAccount",
                "workspaceUuid",
                v["w"].clone(),
                "WORKSPACE_ADMIN",
            ));
        }
        if let (crate::expectations::Kind::DeploymentKey(_), Some(id)) = (principal.kind, &principal.id) {
            raise.push((
                "itself".into(),
                id.clone(),
                "updateDeploymentServiceAccount",
                "deploymentUuid",
                v["d"].clone(),
                "DEPLOYMENT_ADMIN",
            ));
        }
        if let (crate::expectations::Kind::OrganizationKey, Some(id)) = (principal.kind, &principal.id) {
            raise.push((
                "itself".into(),
                id.clone(),
                "updateOrganizationServiceAccount",
                "organizationUuid",
                v["org"].clone(),
                "ORGANIZATION_OWNER",
            ));
        }
        for (name, id, field, scope_arg, scope, role) in &raise {
            steps.push(step(
                format!("{field} {name} to {role}"),
                &format!("mutation($sa: Uuid!, $s: Uuid!) {{ {field}(serviceAccountUuid: $sa, {scope_arg}: $s, payload: {{role: \"{role}\"}}) {{ id }} }}"),
                json!({"sa": id, "s": scope}),
                Then::Nothing,
            ));
        }
        for (name, id) in [("wsa", &v["wsa"]), ("dsa", &v["dsa"]), ("osa", &v["osa"]), ("ssa", &v["ssa"])] {
            steps.push(step(
                format!("rotateServiceAccountKey {name}"),
                "mutation($sa: Uuid!) { rotateServiceAccountKey(serviceAccountUuid: $sa) { apiKey } }",
                json!({"sa": id}),
                Then::Key("rotateServiceAccountKey"),
            ));
        }
        // Invites to new addresses, accepted by signing up with the mailed token.
        for (label, doc) in [
            (
                "workspaceAddUser WA (new address)",
                "mutation($w: Uuid!, $e: String!) { workspaceAddUser(workspaceUuid: $w, email: $e, role: WORKSPACE_ADMIN) { id } }",
            ),
            (
                "organizationInviteUser OWNER (new address)",
                "mutation($org: Uuid!, $e: String!) { organizationInviteUser(organizationUuid: $org, email: $e, role: ORGANIZATION_OWNER) { role } }",
            ),
            ("inviteUser (new address)", "mutation($e: String!) { inviteUser(email: $e) { id } }"),
        ] {
            fresh += 1;
            let email = format!("new{fresh}-{}@example.com", principal.name);
            steps.push(step(
                label,
                doc,
                json!({"w": v["w"], "org": v["org"], "e": email}),
                Then::SignUp(email.clone()),
            ));
        }

        for step in steps {
            let body = app.gql(&step.doc, step.vars.clone(), Some(&token)).await;
            if body.get("errors").is_some_and(|e| !e.is_null()) {
                continue;
            }
            match &step.then {
                Then::Nothing => {}
                Then::Key(field) => {
                    if let Some(key) = body["data"][field]["apiKey"].as_str() {
                        credentials.push(Credential {
                            label: format!("the key from {}", step.label),
                            token: key.to_owned(),
                            ceiling: start.clone(),
                        });
                    }
                }
                Then::Team(field) => {
                    if let Some(id) = body["data"][field]["id"].as_str() {
                        teams.push((format!("its team {round}"), id.to_owned()));
                    }
                }
                Then::SignUp(email) => {
                    let invite = mailed_token(app, email).await;
                    let signed = app
                        .gql(
                            "mutation($e: String!, $p: String!, $t: String) { createUser(email: $e, password: $p, inviteToken: $t) { token { value } } }",
                            json!({"e": email, "p": PASSWORD, "t": invite}),
                            None,
                        )
                        .await;
                    if let Some(t) = signed["data"]["createUser"]["token"]["value"].as_str() {
                        credentials.push(Credential {
                            label: format!("the account invited by {}", step.label),
                            token: t.to_owned(),
                            ceiling: ceiling.clone(),
                        });
                    }
                }
            }
            for credential in &mut credentials {
                let now = effective(world, &credential.token).await;
                // Only what is new since the last finding: the step that caused it is named once.
                let gained: Vec<String> = now.difference(&credential.ceiling).cloned().collect();
                if !gained.is_empty() {
                    let shown: Vec<&String> = gained.iter().take(6).collect();
                    found.push(format!(
                        "{} (round {round}) after `{}`: {} now holds {} more, e.g. {:?}",
                        principal.name,
                        step.label,
                        credential.label,
                        gained.len(),
                        shown
                    ));
                    credential.ceiling.extend(gained);
                }
            }
        }
    }
    found
}

/// The teams holding high roles the search may try to join or change, made by root.
async fn high_teams(world: &World) -> Vec<(String, String)> {
    let (app, root, v) = (&world.app, world.root.as_str(), &world.vars);
    let mut teams = vec![("Readers (WV of W)".to_owned(), v["team"].clone())];
    let make = |name: &'static str| async move {
        ok(
            app,
            root,
            "mutation($o: Uuid!, $n: String!) { createTeam(organizationUuid: $o, name: $n) { id } }",
            json!({"o": v["org"], "n": name}),
        )
        .await["createTeam"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let sys = make("System admins").await;
    ok(
        app,
        root,
        "mutation($t: Uuid!) { createTeamSystemRoleBinding(teamUuid: $t, role: SYSTEM_ADMIN) { role } }",
        json!({"t": sys}),
    )
    .await;
    teams.push(("System admins (SYSTEM_ADMIN)".into(), sys));
    let owners = make("Owners").await;
    ok(app, root, "mutation($o: Uuid!, $t: Uuid!) { organizationUpdateTeamRole(organizationUuid: $o, teamUuid: $t, role: ORGANIZATION_OWNER) { id } }", json!({"o": v["org"], "t": owners})).await;
    teams.push(("Owners (ORGANIZATION_OWNER of A)".into(), owners));
    let admins = make("W admins").await;
    ok(app, root, "mutation($w: Uuid!, $t: Uuid!) { workspaceAddTeam(workspaceUuid: $w, teamUuid: $t, role: WORKSPACE_ADMIN) { id } }", json!({"w": v["w"], "t": admins})).await;
    teams.push(("W admins (WORKSPACE_ADMIN of W)".into(), admins));
    // A team of A owning B, if the server lets a system admin do that.
    let b_owners = make("B owners").await;
    let body = app
        .gql(
            "mutation($o: Uuid!, $t: Uuid!) { organizationUpdateTeamRole(organizationUuid: $o, teamUuid: $t, role: ORGANIZATION_OWNER) { id } }",
            json!({"o": v["orgB"], "t": b_owners}),
            Some(root),
        )
        .await;
    if body.get("errors").is_none() {
        teams.push(("B owners (ORGANIZATION_OWNER of B)".into(), b_owners));
    }
    teams
}

/// Runs the search for the named principals, weakest first, in one world.
async fn check(names: &[&str]) {
    let world = World::build().await;
    let teams = high_teams(&world).await;
    let mut found = Vec::new();
    for name in names {
        let principal = world.principals.iter().find(|p| p.name == *name).unwrap_or_else(|| panic!("{name}"));
        found.extend(search(&world, principal, &teams).await);
    }
    assert!(found.is_empty(), "{} escalations:\n{}", found.len(), found.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_escalation_from_deployment_principals() {
    check(&["dv-key", "de-key", "da-key", "dv", "de", "da"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_escalation_from_workspace_principals() {
    check(&["wv-key", "we-key", "wa-key", "wv", "we", "wa"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_escalation_from_organization_principals() {
    check(&["user", "m-key", "member", "b-key", "billing", "o-key", "owner"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_escalation_from_system_readers_and_editors() {
    check(&["sv-key", "sv", "se-key", "se"]).await;
}
