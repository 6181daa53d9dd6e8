//! Organizations, teams, dedicated clusters and the audit log (SPEC §1–§2, §7).

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::common::{TestApp, error_code};

async fn public_app() -> TestApp {
    TestApp::spawn_with(|config| config.public_signups = true).await
}

fn ok(body: &Value) -> &Value {
    assert!(body.get("errors").is_none() || body["errors"].is_null(), "{body}");
    &body["data"]
}

async fn default_organization(app: &TestApp) -> String {
    app.text("SELECT id::text AS t FROM organizations WHERE is_default").await
}

async fn token_of(app: &TestApp, email: &str) -> String {
    let body = app.sign_in(email, "correct horse battery").await;
    body["data"]["createToken"]["token"]["value"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned()
}

async fn owners_of(app: &TestApp, organization: &str) -> i64 {
    app.count(&format!(
        "SELECT count(*) AS n FROM role_bindings WHERE organization_id = '{organization}' AND role = 'ORGANIZATION_OWNER' AND user_id IS NOT NULL"
    ))
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_users_joining_at_once_make_exactly_three_owners() {
    // Four sign-ups into a new installation at once.
    let app = public_app().await;
    let sign_ups = (0..4).map(|n| {
        let app = &app;
        async move { app.sign_up(&format!("user{n}@example.com"), "correct horse battery").await }
    });
    futures_util::future::join_all(sign_ups).await;
    let organization = default_organization(&app).await;
    assert_eq!(owners_of(&app, &organization).await, 3);
    assert_eq!(app.count("SELECT count(*) AS n FROM role_bindings WHERE role = 'ORGANIZATION_MEMBER'").await, 1);

    // Four existing users accepting invites at once to an organization its creator founded: two more owners,
    // two members. Whoever signed up first is the system admin.
    let admin = app
        .text("SELECT u.username AS t FROM users u JOIN role_bindings b ON b.user_id = u.id WHERE b.role = 'SYSTEM_ADMIN'")
        .await;
    let root = token_of(&app, &admin).await;
    let created = app.gql("mutation { createOrganization(name: \"Acme\") { id } }", json!({}), Some(&root)).await;
    let acme = ok(&created)["createOrganization"]["id"].as_str().unwrap().to_owned();
    let mut accepts = Vec::new();
    for n in 4..8 {
        let email = format!("user{n}@example.com");
        let (token, _) = app.sign_up(&email, "correct horse battery").await;
        ok(&app
            .gql(
                "mutation($o: Uuid!, $e: String!) { organizationInviteUser(organizationUuid: $o, email: $e, role: ORGANIZATION_MEMBER) { role } }",
                json!({"o": acme, "e": email}),
                Some(&root),
            )
            .await);
        accepts.push((token, crate::grants::invite_token(&app, &email).await));
    }
    let answers = futures_util::future::join_all(accepts.iter().map(|(token, invite)| {
        app.gql("mutation($t: String!) { acceptInvite(token: $t) { id } }", json!({"t": invite}), Some(token))
    }))
    .await;
    for answer in &answers {
        ok(answer);
    }
    assert_eq!(owners_of(&app, &acme).await, 3, "the creator and the next two joins");
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM role_bindings WHERE organization_id = '{acme}' AND role = 'ORGANIZATION_MEMBER'"
        ))
        .await,
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_owners_demoting_each_other_at_once_leave_exactly_one() {
    for round in 0..4 {
        let app = public_app().await;
        let (_, a) = app.sign_up("a@example.com", "correct horse battery").await;
        let (_, b) = app.sign_up("b@example.com", "correct horse battery").await;
        let organization = default_organization(&app).await;
        let (ta, tb) = (token_of(&app, "a@example.com").await, token_of(&app, "b@example.com").await);
        const DEMOTE: &str = "mutation($o: Uuid!, $u: Uuid!) { organizationUpdateUserRole(organizationUuid: $o, userUuid: $u, role: ORGANIZATION_MEMBER) }";
        let (first, second) = tokio::join!(
            app.gql(DEMOTE, json!({"o": organization, "u": b}), Some(&ta)),
            app.gql(DEMOTE, json!({"o": organization, "u": a}), Some(&tb)),
        );
        let won = [&first, &second].iter().filter(|body| body.get("errors").is_none()).count();
        assert_eq!(won, 1, "round {round}: exactly one demotion wins: {first} / {second}");
        for loser in [&first, &second].iter().filter(|body| body.get("errors").is_some()) {
            assert!(matches!(error_code(loser), "CONFLICT" | "FORBIDDEN"), "{loser}");
        }
        assert_eq!(owners_of(&app, &organization).await, 1, "round {round}");
        // The last owner can neither be demoted nor leave.
        let owner_id = app
            .text(&format!("SELECT user_id::text AS t FROM role_bindings WHERE organization_id = '{organization}' AND role = 'ORGANIZATION_OWNER'"))
            .await;
        let owner = if owner_id == a { &ta } else { &tb };
        let demoted = app.gql(DEMOTE, json!({"o": organization, "u": owner_id}), Some(owner)).await;
        assert_eq!(error_code(&demoted), "CONFLICT", "{demoted}");
        let left = app
            .gql(
                "mutation($o: Uuid!, $u: Uuid!) { organizationRemoveUser(organizationUuid: $o, userUuid: $u) }",
                json!({"o": organization, "u": owner_id}),
                Some(owner),
            )
            .await;
        assert_eq!(error_code(&left), "CONFLICT", "{left}");
    }
}

#[tokio::test]
async fn a_team_derived_admin_acts_like_a_direct_one_and_loses_it_at_the_next_request() {
    let app = public_app().await;
    let root = app.with_owners().await;
    let (member, member_id) = app.sign_up("member@example.com", "correct horse battery").await;
    let workspace = app.create_workspace(&root, "Data").await;
    let team =
        ok(&app.gql("mutation { createTeam(name: \"Platform\") { id } }", json!({}), Some(&root)).await)["createTeam"]
            ["id"]
            .as_str()
            .unwrap()
            .to_owned();
    ok(&app
        .gql(
            "mutation($t: Uuid!, $u: Uuid!) { teamAddUser(teamUuid: $t, userUuid: $u) { id } }",
            json!({"t": team, "u": member_id}),
            Some(&root),
        )
        .await);
    ok(&app
        .gql(
            "mutation($w: Uuid!, $t: Uuid!) { workspaceAddTeam(workspaceUuid: $w, teamUuid: $t, role: WORKSPACE_ADMIN) { id } }",
            json!({"w": workspace, "t": team}),
            Some(&root),
        )
        .await);
    const UPDATE: &str = "mutation($w: Uuid!) { updateWorkspace(workspaceUuid: $w, payload: {description: \"by the team\"}) { description } }";
    let updated = app.gql(UPDATE, json!({"w": workspace}), Some(&member)).await;
    assert_eq!(ok(&updated)["updateWorkspace"]["description"], "by the team");
    let explained = app
        .gql(
            "query($w: Uuid) { explainPermission(permission: \"workspace.iam.update\", scopeId: $w) { granted teamId explanation } }",
            json!({"w": workspace}),
            Some(&member),
        )
        .await;
    assert_eq!(ok(&explained)["explainPermission"]["teamId"], team.as_str(), "{explained}");
    assert!(explained["data"]["explainPermission"]["explanation"].as_str().unwrap().contains(&team));
    // The team's member may grant what the team holds, like a direct admin.
    let added = app.add_to_workspace(&member, &workspace, "newcomer@example.com", "WORKSPACE_EDITOR").await;
    assert!(added.get("errors").is_none(), "{added}");

    ok(&app
        .gql(
            "mutation($t: Uuid!, $u: Uuid!) { teamRemoveUser(teamUuid: $t, userUuid: $u) { id } }",
            json!({"t": team, "u": member_id}),
            Some(&root),
        )
        .await);
    let refused = app.gql(UPDATE, json!({"w": workspace}), Some(&member)).await;
    assert_eq!(error_code(&refused), "FORBIDDEN", "{refused}");
}

#[tokio::test]
async fn a_user_of_several_organizations_names_one_and_labels_are_per_organization() {
    let app = public_app().await;
    let root = app.with_owners().await;
    let (member, _) = app.sign_up("member@example.com", "correct horse battery").await;
    let acme = ok(&app.gql("mutation { createOrganization(name: \"Acme\") { id } }", json!({}), Some(&root)).await)
        ["createOrganization"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(&app
        .gql(
            "mutation($o: Uuid!) { organizationInviteUser(organizationUuid: $o, email: \"member@example.com\") { role } }",
            json!({"o": acme}),
            Some(&root),
        )
        .await);
    let invite = crate::grants::invite_token(&app, "member@example.com").await;
    ok(&app.gql("mutation($t: String!) { acceptInvite(token: $t) { id } }", json!({"t": invite}), Some(&member)).await);
    let ambiguous = app.gql("mutation { createWorkspace(label: \"Data\") { id } }", json!({}), Some(&member)).await;
    assert_eq!(error_code(&ambiguous), "BAD_USER_INPUT", "{ambiguous}");
    assert_eq!(ambiguous["errors"][0]["extensions"]["field"], "organizationUuid");
    let default = default_organization(&app).await;
    for organization in [&default, &acme] {
        let created = app
            .gql(
                "mutation($o: Uuid) { createWorkspace(label: \"Data\", organizationUuid: $o) { id organizationId } }",
                json!({"o": organization}),
                Some(&member),
            )
            .await;
        assert_eq!(ok(&created)["createWorkspace"]["organizationId"], organization.as_str(), "the same label in each");
    }
    let again = app
        .gql(
            "mutation($o: Uuid) { createWorkspace(label: \"data\", organizationUuid: $o) { id } }",
            json!({"o": acme}),
            Some(&member),
        )
        .await;
    assert_eq!(error_code(&again), "CONFLICT", "{again}");
    let listed = app.gql("{ organizations { id } }", json!({}), Some(&member)).await;
    let ids: BTreeSet<&str> =
        ok(&listed)["organizations"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap()).collect();
    assert_eq!(ids, BTreeSet::from([default.as_str(), acme.as_str()]));
}

#[tokio::test]
async fn leaving_an_organization_takes_its_workspace_deployment_and_team_roles() {
    let app = public_app().await;
    let root = app.with_owners().await;
    let (_, member_id) = app.sign_up("member@example.com", "correct horse battery").await;
    let organization = default_organization(&app).await;
    let workspace = app.create_workspace(&root, "Data").await;
    app.add_to_workspace(&root, &workspace, "member@example.com", "WORKSPACE_EDITOR").await;
    let deployment = app.create_deployment(&root, &workspace, "etl").await["id"].as_str().unwrap().to_owned();
    ok(&app
        .gql(
            "mutation($d: Id!) { deploymentAddUserRole(email: \"member@example.com\", deploymentId: $d, role: DEPLOYMENT_ADMIN) { id } }",
            json!({"d": deployment}),
            Some(&root),
        )
        .await);
    let team = ok(&app.gql("mutation { createTeam(name: \"T\") { id } }", json!({}), Some(&root)).await)["createTeam"]
        ["id"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(&app
        .gql(
            "mutation($t: Uuid!, $u: Uuid!) { teamAddUser(teamUuid: $t, userUuid: $u) { id } }",
            json!({"t": team, "u": member_id}),
            Some(&root),
        )
        .await);
    let removed = app
        .gql(
            "mutation($o: Uuid!, $u: Uuid!) { organizationRemoveUser(organizationUuid: $o, userUuid: $u) }",
            json!({"o": organization, "u": member_id}),
            Some(&root),
        )
        .await;
    assert_eq!(ok(&removed)["organizationRemoveUser"], true);
    assert_eq!(app.count(&format!("SELECT count(*) AS n FROM role_bindings WHERE user_id = '{member_id}'")).await, 0);
    assert_eq!(app.count(&format!("SELECT count(*) AS n FROM team_members WHERE user_id = '{member_id}'")).await, 0);
}

#[tokio::test]
async fn dedicated_clusters_serve_the_workspaces_they_are_limited_to() {
    let app = public_app().await;
    let root = app.with_owners().await;
    let organization = default_organization(&app).await;
    let (allowed, other) = (app.create_workspace(&root, "Allowed").await, app.create_workspace(&root, "Other").await);
    let cluster = ok(&app
        .gql(
            "mutation($o: Uuid!) { createCluster(name: \"gpu\", type: DEDICATED, organizationUuid: $o, provider: \"aws\", region: \"eu-west-1\") { id kind provider } }",
            json!({"o": organization}),
            Some(&root),
        )
        .await)["createCluster"]
        .clone();
    assert_eq!(cluster["kind"], "DEDICATED");
    let cluster = cluster["id"].as_str().unwrap().to_owned();
    let no_org =
        app.gql("mutation { createCluster(name: \"x\", type: DEDICATED) { id } }", json!({}), Some(&root)).await;
    assert_eq!(no_org["errors"][0]["extensions"]["field"], "organizationUuid");
    ok(&app
        .gql(
            "mutation($c: Uuid!, $w: Uuid!) { workspaceAllowCluster(clusterUuid: $c, workspaceUuid: $w) { restrictedToWorkspaces workspaces { id } } }",
            json!({"c": cluster, "w": allowed}),
            Some(&root),
        )
        .await);
    const CREATE: &str = "mutation($w: Uuid!, $c: Uuid) { createDeployment(workspaceUuid: $w, label: \"etl\", clusterUuid: $c) { id clusterId } }";
    let refused = app.gql(CREATE, json!({"w": other, "c": cluster}), Some(&root)).await;
    assert_eq!(error_code(&refused), "BAD_USER_INPUT", "{refused}");
    assert_eq!(refused["errors"][0]["extensions"]["field"], "clusterUuid");
    let created = app.gql(CREATE, json!({"w": allowed, "c": cluster}), Some(&root)).await;
    assert_eq!(ok(&created)["createDeployment"]["clusterId"], cluster.as_str());
    let busy = app
        .gql("mutation($c: Uuid!) { deleteCluster(clusterUuid: $c) { id } }", json!({"c": cluster}), Some(&root))
        .await;
    assert_eq!(error_code(&busy), "CONFLICT", "{busy}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_pages_stay_stable_while_events_are_written() {
    let app = public_app().await;
    let root = app.with_owners().await;
    let workspace = app.create_workspace(&root, "Data").await;
    for n in 0..30 {
        let change = json!({"w": workspace, "d": format!("change {n}")});
        ok(&app.gql("mutation($w: Uuid!, $d: String!) { updateWorkspace(workspaceUuid: $w, payload: {description: $d}) { id } }", change, Some(&root)).await);
    }
    let existing: BTreeSet<String> = app
        .text(&format!("SELECT string_agg(id::text, ',') AS t FROM audit_events WHERE workspace_id = '{workspace}'"))
        .await
        .split(',')
        .map(str::to_owned)
        .collect();
    const PAGE: &str = "query($w: Uuid!, $after: String) { auditEvents(filter: {workspaceUuid: $w}, first: 7, after: $after) { edges { node { id } } pageInfo { hasNextPage endCursor } totalCount } }";
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    let writer = async {
        for n in 0..20 {
            let change = json!({"w": workspace, "d": format!("concurrent {n}")});
            app.gql("mutation($w: Uuid!, $d: String!) { updateWorkspace(workspaceUuid: $w, payload: {description: $d}) { id } }", change, Some(&root)).await;
        }
    };
    let reader = async {
        loop {
            let page = app.gql(PAGE, json!({"w": workspace, "after": after}), Some(&root)).await;
            let data = &ok(&page)["auditEvents"];
            seen.extend(data["edges"].as_array().unwrap().iter().map(|e| e["node"]["id"].as_str().unwrap().to_owned()));
            if data["pageInfo"]["hasNextPage"] != true {
                break;
            }
            after = data["pageInfo"]["endCursor"].as_str().map(str::to_owned);
        }
    };
    tokio::join!(writer, reader);
    let unique: BTreeSet<String> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "no event twice");
    assert!(existing.is_subset(&unique), "every event written before paging began was read");
}

#[tokio::test]
async fn the_export_streams_what_the_caller_may_read_and_refuses_others() {
    let app = public_app().await;
    let root = app.with_owners().await;
    let (member, _) = app.sign_up("member@example.com", "correct horse battery").await;
    let workspace = app.create_workspace(&root, "Data").await;
    app.add_to_workspace(&root, &workspace, "member@example.com", "WORKSPACE_VIEWER").await;
    for n in 0..12 {
        let change = json!({"w": workspace, "d": format!("change {n}")});
        ok(&app.gql("mutation($w: Uuid!, $d: String!) { updateWorkspace(workspaceUuid: $w, payload: {description: $d}) { id } }", change, Some(&root)).await);
    }
    let expected =
        app.count(&format!("SELECT count(*) AS n FROM audit_events WHERE workspace_id = '{workspace}'")).await;
    let url = format!("{}/v1/audit/export?workspaceUuid={workspace}", app.base);
    let response = app.client.get(&url).header("Authorization", &root).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let body = response.text().await.unwrap();
    let lines: Vec<Value> = body.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(lines.len() as i64, expected);
    assert!(lines.iter().all(|event| event["workspaceId"] == workspace.as_str()));
    // A viewer may not read the workspace's audit log; nobody may without a token.
    let viewer = app.client.get(&url).header("Authorization", &member).send().await.unwrap();
    assert_eq!(viewer.status(), 403);
    let anonymous = app.client.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let everything =
        app.client.get(format!("{}/v1/audit/export", app.base)).header("Authorization", &member).send().await.unwrap();
    assert_eq!(everything.status(), 403, "the whole log needs system.auditLogs.get");
}

/// An organization's invite is withdrawn by whoever may make one there (SPEC §2: organization.users.invite,
/// owners): an owner without any system role can, a member and a workspace admin of the organization
/// cannot, and a refused withdrawal leaves the invite in place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_withdraws_the_organizations_invites_and_nobody_else_below_does() {
    let app = public_app().await;
    let root = app.with_owners().await;
    let organization = default_organization(&app).await;
    let owner = token_of(&app, "owner2@example.com").await;
    let (member, _) = app.sign_up("member@example.com", "correct horse battery").await;
    let (admin, _) = app.sign_up("admin@example.com", "correct horse battery").await;
    let workspace = app.create_workspace(&root, "Data").await;
    ok(&app.add_to_workspace(&root, &workspace, "admin@example.com", "WORKSPACE_ADMIN").await);
    let invited = app
        .gql(
            "mutation($o: Uuid!) { organizationInviteUser(organizationUuid: $o, email: \"guest@elsewhere.test\") { invite { id } } }",
            json!({"o": organization}),
            Some(&owner),
        )
        .await;
    let invite = ok(&invited)["organizationInviteUser"]["invite"]["id"].as_str().unwrap().to_owned();
    const WITHDRAW: &str = "mutation($i: Uuid!) { deleteInviteToken(inviteUuid: $i) { id } }";
    let remaining = format!("SELECT count(*) AS n FROM invites WHERE id = '{invite}'");
    for (token, who) in [(&member, "a member"), (&admin, "a workspace admin")] {
        let body = app.gql(WITHDRAW, json!({"i": invite}), Some(token)).await;
        assert_eq!(error_code(&body), "FORBIDDEN", "{who}: {body}");
        assert_eq!(app.count(&remaining).await, 1, "{who} withdrew the organization's invite");
    }
    let body = app.gql(WITHDRAW, json!({"i": invite}), Some(&owner)).await;
    assert_eq!(ok(&body)["deleteInviteToken"]["id"], invite.as_str(), "{body}");
    assert_eq!(app.count(&remaining).await, 0);
}
