//! The triggers of migration `2026-12-08-000001_authz_version`, exercised directly (docs/limits.md,
//! "Principals"): each input of a principal's packed bindings is written in SQL, bypassing the domain (as
//! SCIM, a cascade, `seed` or an operator's `psql` would reach the tables), and the test reads which
//! numbers moved: the version of each user and service account, and the shared epoch. The expectations are
//! the table of docs/limits.md, written by hand: a change of a principal's own rows moves that principal
//! and no one else; a change of a shared input moves the epoch; a change of nothing an input is made of,
//! or a statement that touched no row, moves nothing. The epoch row itself cannot go.
//!
//! Last, the case the epoch exists for: a team's binding removed while a user joins that team in a
//! concurrent transaction; the joiner, whose bindings this process held, never keeps the removed role.

use std::collections::{BTreeMap, BTreeSet};

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::TestApp;
use crate::principal_cache::{World, assert_held, reads, world_on};

const PASSWORD: &str = "correct horse battery";

/// Every user's and service account's `authz_version`, and `authz_epoch.epoch`, read in one statement.
#[derive(Debug)]
struct Numbers {
    epoch: i64,
    principals: BTreeMap<String, i64>,
}

async fn numbers(app: &TestApp) -> Numbers {
    let text = app
        .text(
            "SELECT json_build_object('epoch', (SELECT epoch FROM authz_epoch), 'principals', \
             (SELECT coalesce(json_object_agg(id, authz_version), '{}') FROM \
             (SELECT id, authz_version FROM users UNION ALL SELECT id, authz_version FROM service_accounts) p))::text AS t",
        )
        .await;
    let value: Value = serde_json::from_str(&text).unwrap();
    let epoch = value["epoch"].as_i64().unwrap_or_else(|| panic!("no epoch: {value}"));
    let principals = value["principals"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(id, version)| (id.clone(), version.as_i64().unwrap()))
        .collect();
    Numbers { epoch, principals }
}

/// Which numbers a statement moved: the epoch or not, and the principals (present before and after) whose
/// version changed.
#[derive(Debug, PartialEq, Eq)]
struct Moved {
    epoch: bool,
    principals: BTreeSet<String>,
}

impl Moved {
    fn nothing() -> Moved {
        Moved { epoch: false, principals: BTreeSet::new() }
    }

    fn epoch() -> Moved {
        Moved { epoch: true, principals: BTreeSet::new() }
    }

    fn principals(ids: &[&str]) -> Moved {
        Moved { epoch: false, principals: ids.iter().map(|id| (*id).to_owned()).collect() }
    }

    fn and_epoch(self) -> Moved {
        Moved { epoch: true, ..self }
    }
}

/// Runs `statement` (it must succeed) and says what it moved. No number ever goes back.
async fn moves(app: &TestApp, statement: &str) -> Moved {
    let before = numbers(app).await;
    app.execute(statement).await.unwrap_or_else(|error| panic!("{statement}: {error}"));
    let after = numbers(app).await;
    assert!(after.epoch >= before.epoch, "the epoch went back: {statement}");
    let mut principals = BTreeSet::new();
    for (id, version) in &after.principals {
        if let Some(old) = before.principals.get(id) {
            assert!(version >= old, "a version went back: {statement}");
            if version != old {
                principals.insert(id.clone());
            }
        }
    }
    Moved { epoch: after.epoch != before.epoch, principals }
}

/// Asserts that `statement` moves exactly `expected`.
async fn assert_moves(app: &TestApp, statement: &str, expected: Moved) {
    assert_eq!(moves(app, statement).await, expected, "{statement}");
}

/// The principal-cache world (root, owner2, mia, workspace W, team T in the default organization) and
/// tom, a second plain member; returns it with tom's token and id.
async fn world() -> (World, String, String) {
    let app = TestApp::spawn_with(|config| config.public_signups = true).await;
    let w = world_on(app).await;
    let (tom, tom_id) = w.app.sign_up("tom@example.com", PASSWORD).await;
    (w, tom, tom_id)
}

fn new_id() -> String {
    Uuid::new_v4().to_string()
}

/// An organization, made in SQL (no workspace, so that it can be deleted: workspaces restrict it).
async fn insert_organization(app: &TestApp, name: &str) -> String {
    let id = new_id();
    app.execute(&format!("INSERT INTO organizations (id, name) VALUES ('{id}', '{name}')")).await.unwrap();
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_own_bindings_move_that_users_version_and_no_one_elses() {
    let (w, _tom, tom) = world().await;
    let (app, mia, workspace) = (&w.app, w.mia_id.as_str(), w.workspace.as_str());
    let binding = new_id();
    assert_moves(
        app,
        &format!(
            "INSERT INTO role_bindings (id, role, user_id, scope, workspace_id) \
             VALUES ('{binding}', 'WORKSPACE_VIEWER', '{mia}', 'WORKSPACE', '{workspace}')"
        ),
        Moved::principals(&[mia]),
    )
    .await;
    assert_moves(
        app,
        &format!("UPDATE role_bindings SET role = 'WORKSPACE_EDITOR' WHERE id = '{binding}'"),
        Moved::principals(&[mia]),
    )
    .await;
    // A new custom role is named by no binding yet: nothing moves. Holding it moves the holder.
    let custom = new_id();
    assert_moves(
        app,
        &format!(
            "INSERT INTO custom_roles (id, organization_id, scope, name, permissions) \
             VALUES ('{custom}', '{}', 'WORKSPACE', 'Reader', ARRAY['workspace.config.get'])",
            w.org
        ),
        Moved::nothing(),
    )
    .await;
    assert_moves(
        app,
        &format!(
            "UPDATE role_bindings SET role = 'WORKSPACE_CUSTOM', custom_role_id = '{custom}' WHERE id = '{binding}'"
        ),
        Moved::principals(&[mia]),
    )
    .await;
    // Handed to tom: the old and the new holder.
    assert_moves(
        app,
        &format!("UPDATE role_bindings SET user_id = '{tom}' WHERE id = '{binding}'"),
        Moved::principals(&[mia, &tom]),
    )
    .await;
    assert_moves(app, &format!("DELETE FROM role_bindings WHERE id = '{binding}'"), Moved::principals(&[&tom])).await;
    // A system role is a binding like any other.
    assert_moves(
        app,
        &format!(
            "INSERT INTO role_bindings (id, role, user_id, scope) VALUES ('{}', 'SYSTEM_VIEWER', '{mia}', 'SYSTEM')",
            new_id()
        ),
        Moved::principals(&[mia]),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_accounts_bindings_move_that_accounts_version() {
    let (w, _tom, _) = world().await;
    let app = &w.app;
    let create = "mutation($w: Uuid!) { createWorkspaceServiceAccount(label: \"ci\", workspaceUuid: $w, role: WORKSPACE_EDITOR) { id } }";
    let created = app.gql(create, json!({"w": w.workspace}), Some(&w.root)).await;
    let account = created["data"]["createWorkspaceServiceAccount"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{created}"))
        .to_owned();
    assert_moves(
        app,
        &format!("UPDATE role_bindings SET role = 'WORKSPACE_VIEWER' WHERE service_account_id = '{account}'"),
        Moved::principals(&[&account]),
    )
    .await;
    assert_moves(
        app,
        &format!("DELETE FROM role_bindings WHERE service_account_id = '{account}'"),
        Moved::principals(&[&account]),
    )
    .await;
    assert_moves(
        app,
        &format!(
            "INSERT INTO role_bindings (id, role, service_account_id, scope, workspace_id) \
             VALUES ('{}', 'WORKSPACE_ADMIN', '{account}', 'WORKSPACE', '{}')",
            new_id(),
            w.workspace
        ),
        Moved::principals(&[&account]),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memberships_move_the_member_and_team_bindings_move_the_epoch() {
    let (w, _tom, tom) = world().await;
    let (app, mia, team, workspace) = (&w.app, w.mia_id.as_str(), w.team.as_str(), w.workspace.as_str());
    assert_moves(
        app,
        &format!("INSERT INTO team_members (team_id, user_id) VALUES ('{team}', '{mia}')"),
        Moved::principals(&[mia]),
    )
    .await;
    let binding = new_id();
    assert_moves(
        app,
        &format!(
            "INSERT INTO role_bindings (id, role, team_id, scope, workspace_id) \
             VALUES ('{binding}', 'WORKSPACE_VIEWER', '{team}', 'WORKSPACE', '{workspace}')"
        ),
        Moved::epoch(),
    )
    .await;
    assert_moves(
        app,
        &format!("UPDATE role_bindings SET role = 'WORKSPACE_EDITOR' WHERE id = '{binding}'"),
        Moved::epoch(),
    )
    .await;
    assert_moves(app, &format!("DELETE FROM role_bindings WHERE id = '{binding}'"), Moved::epoch()).await;
    assert_moves(
        app,
        &format!("DELETE FROM team_members WHERE team_id = '{team}' AND user_id = '{mia}'"),
        Moved::principals(&[mia]),
    )
    .await;

    // A team deleted with its members and a binding: the cascade moves both members and the epoch.
    app.execute(&format!(
        "INSERT INTO team_members (team_id, user_id) VALUES ('{team}', '{mia}'), ('{team}', '{tom}')"
    ))
    .await
    .unwrap();
    app.execute(&format!(
        "INSERT INTO role_bindings (id, role, team_id, scope, workspace_id) \
         VALUES ('{}', 'WORKSPACE_VIEWER', '{team}', 'WORKSPACE', '{workspace}')",
        new_id()
    ))
    .await
    .unwrap();
    assert_moves(app, &format!("DELETE FROM teams WHERE id = '{team}'"), Moved::principals(&[mia, &tom]).and_epoch())
        .await;
    // A team with a member and no binding: only the member.
    let bare = new_id();
    app.execute(&format!("INSERT INTO teams (id, organization_id, name) VALUES ('{bare}', '{}', 'Bare')", w.org))
        .await
        .unwrap();
    app.execute(&format!("INSERT INTO team_members (team_id, user_id) VALUES ('{bare}', '{tom}')")).await.unwrap();
    assert_moves(app, &format!("DELETE FROM teams WHERE id = '{bare}'"), Moved::principals(&[&tom])).await;
}

/// The users and service accounts holding a binding of their own whose `column` is `id`.
async fn holders_of(app: &TestApp, column: &str, id: &str) -> Vec<String> {
    let list = app
        .text(&format!(
            "SELECT string_agg(DISTINCT coalesce(user_id, service_account_id)::text, ',') AS t FROM role_bindings \
             WHERE {column} = '{id}' AND team_id IS NULL"
        ))
        .await;
    list.split(',').filter(|id| !id.is_empty()).map(str::to_owned).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_inputs_move_the_epoch_and_other_columns_move_nothing() {
    let (w, _tom, _) = world().await;
    let app = &w.app;
    let custom = new_id();
    app.execute(&format!(
        "INSERT INTO custom_roles (id, organization_id, scope, name, permissions) \
         VALUES ('{custom}', '{}', 'WORKSPACE', 'Reader', ARRAY['workspace.config.get'])",
        w.org
    ))
    .await
    .unwrap();
    assert_moves(
        app,
        &format!("UPDATE custom_roles SET permissions = ARRAY['workspace.users.get'] WHERE id = '{custom}'"),
        Moved::epoch(),
    )
    .await;
    assert_moves(
        app,
        &format!("UPDATE custom_roles SET description = 'reads', name = 'Readers' WHERE id = '{custom}'"),
        Moved::nothing(),
    )
    .await;

    assert_moves(
        app,
        &format!("UPDATE organizations SET ip_access_list = ARRAY['192.0.2.0/24'] WHERE id = '{}'", w.org),
        Moved::epoch(),
    )
    .await;
    assert_moves(app, &format!("UPDATE organizations SET name = 'Renamed' WHERE id = '{}'", w.org), Moved::nothing())
        .await;
    // Lifted again (the deployment below is created from 127.0.0.1).
    assert_moves(
        app,
        &format!("UPDATE organizations SET ip_access_list = '{{}}' WHERE id = '{}'", w.org),
        Moved::epoch(),
    )
    .await;

    let deployment = w.app.create_deployment(&w.root, &w.workspace, "Moving").await;
    let deployment = deployment["id"].as_str().unwrap().to_owned();
    let second = w.app.create_workspace(&w.root, "W2").await;
    assert_moves(
        app,
        &format!("UPDATE deployments SET workspace_id = '{second}' WHERE id = '{deployment}'"),
        Moved::epoch(),
    )
    .await;
    assert_moves(
        app,
        &format!("UPDATE deployments SET description = 'moved' WHERE id = '{deployment}'"),
        Moved::nothing(),
    )
    .await;

    let other = insert_organization(app, "Other").await;
    assert_moves(
        app,
        &format!("UPDATE workspaces SET organization_id = '{other}' WHERE id = '{second}'"),
        Moved::epoch(),
    )
    .await;
    assert_moves(app, &format!("UPDATE workspaces SET description = 'moved' WHERE id = '{second}'"), Moved::nothing())
        .await;
    // Deleting the deployment, then its workspace: rows went, the epoch moves, and so does every principal
    // whose own binding on it goes with it (its creator's, here).
    let holders = holders_of(app, "deployment_id", &deployment).await;
    assert!(!holders.is_empty(), "its creator holds a binding on the deployment");
    let holders: Vec<&str> = holders.iter().map(String::as_str).collect();
    assert_moves(
        app,
        &format!("DELETE FROM deployments WHERE id = '{deployment}'"),
        Moved::principals(&holders).and_epoch(),
    )
    .await;
    let holders = holders_of(app, "workspace_id", &second).await;
    let holders: Vec<&str> = holders.iter().map(String::as_str).collect();
    assert_moves(
        app,
        &format!("DELETE FROM workspaces WHERE id = '{second}'"),
        Moved::principals(&holders).and_epoch(),
    )
    .await;
    assert_moves(app, &format!("DELETE FROM custom_roles WHERE id = '{custom}'"), Moved::epoch()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organization_deleted_moves_the_epoch_and_everyone_its_cascade_reaches() {
    let (w, _tom, tom) = world().await;
    let app = &w.app;
    let mia = w.mia_id.as_str();
    let other = insert_organization(app, "Other").await;
    // Mia is a member of it; tom is in one of its teams; it has a custom role.
    app.execute(&format!(
        "INSERT INTO role_bindings (id, role, user_id, scope, organization_id) \
         VALUES ('{}', 'ORGANIZATION_MEMBER', '{mia}', 'ORGANIZATION', '{other}')",
        new_id()
    ))
    .await
    .unwrap();
    let team = new_id();
    app.execute(&format!("INSERT INTO teams (id, organization_id, name) VALUES ('{team}', '{other}', 'Crew')"))
        .await
        .unwrap();
    app.execute(&format!("INSERT INTO team_members (team_id, user_id) VALUES ('{team}', '{tom}')")).await.unwrap();
    app.execute(&format!(
        "INSERT INTO custom_roles (id, organization_id, scope, name, permissions) \
         VALUES ('{}', '{other}', 'WORKSPACE', 'Reader', ARRAY['workspace.config.get'])",
        new_id()
    ))
    .await
    .unwrap();
    assert_moves(
        app,
        &format!("DELETE FROM organizations WHERE id = '{other}'"),
        Moved::principals(&[mia, &tom]).and_epoch(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_that_touch_no_row_move_nothing_and_truncate_moves_the_epoch() {
    let (w, _tom, _) = world().await;
    let app = &w.app;
    let nobody = new_id();
    for statement in [
        format!("DELETE FROM custom_roles WHERE id = '{nobody}'"),
        format!("DELETE FROM organizations WHERE id = '{nobody}'"),
        format!("DELETE FROM workspaces WHERE id = '{nobody}'"),
        format!("DELETE FROM deployments WHERE id = '{nobody}'"),
        format!("DELETE FROM teams WHERE id = '{nobody}'"),
        format!("DELETE FROM role_bindings WHERE id = '{nobody}'"),
        format!("DELETE FROM team_members WHERE user_id = '{nobody}'"),
        format!("UPDATE role_bindings SET role = role WHERE id = '{nobody}'"),
        format!("UPDATE team_members SET created_at = now() WHERE user_id = '{nobody}'"),
        format!("UPDATE organizations SET ip_access_list = ARRAY['192.0.2.0/24'] WHERE id = '{nobody}'"),
        format!("UPDATE custom_roles SET permissions = ARRAY['workspace.users.get'] WHERE id = '{nobody}'"),
        "INSERT INTO role_bindings SELECT * FROM role_bindings WHERE false".to_owned(),
        "INSERT INTO team_members SELECT * FROM team_members WHERE false".to_owned(),
    ] {
        assert_moves(app, &statement, Moved::nothing()).await;
    }
    // An empty table's TRUNCATE removes nothing and moves nothing; one that removes bindings moves the epoch.
    assert_eq!(app.count("SELECT count(*) AS n FROM team_members").await, 0, "no team has a member");
    assert_moves(app, "TRUNCATE team_members", Moved::nothing()).await;
    assert!(app.count("SELECT count(*) AS n FROM role_bindings").await > 0, "the owners hold bindings");
    assert_moves(app, "TRUNCATE role_bindings", Moved::epoch()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_epoch_row_cannot_be_deleted_truncated_or_doubled() {
    let (w, _tom, _) = world().await;
    let app = &w.app;
    let epoch = numbers(app).await.epoch;
    for statement in ["DELETE FROM authz_epoch", "TRUNCATE authz_epoch", "INSERT INTO authz_epoch (epoch) VALUES (1)"] {
        let refused = app.execute(statement).await;
        assert!(refused.is_err(), "{statement}: {refused:?}");
        assert_eq!(app.count("SELECT count(*) AS n FROM authz_epoch").await, 1, "{statement}: the row is there");
        assert_eq!(numbers(app).await.epoch, epoch, "{statement}: unchanged");
    }
    let refused = app.execute("DELETE FROM authz_epoch").await.unwrap_err();
    assert!(refused.contains("authz_epoch keeps its one row"), "{refused}");
    // Authentication still reads it.
    assert!(!reads(app, &w.mia, &w.workspace).await, "a plain member is authenticated, and refused W");
}

/// A team holding WORKSPACE_VIEWER on W; mia outside it, her bindings held by the process. Transaction A
/// removes the team's binding while transaction B adds mia to the team, both open at once; they commit in
/// the order given. After both, mia's next request does not have the removed role.
async fn removal_and_join_in_concurrent_transactions(joiner_commits_first: bool) {
    let app = TestApp::spawn_with(|config| config.public_signups = true).await;
    let w = world_on(app).await;
    let add_team = "mutation($w: Uuid!, $t: Uuid!) { workspaceAddTeam(workspaceUuid: $w, teamUuid: $t, role: WORKSPACE_VIEWER) { id } }";
    let added = w.app.gql(add_team, json!({"w": w.workspace, "t": w.team}), Some(&w.root)).await;
    assert!(added.get("errors").is_none(), "{added}");
    assert!(!reads(&w.app, &w.mia, &w.workspace).await, "not in the team");
    assert_held(&w.app, &w.mia).await;

    let mut remover = AsyncPgConnection::establish(&w.app.db_url).await.unwrap();
    let mut joiner = AsyncPgConnection::establish(&w.app.db_url).await.unwrap();
    remover.batch_execute(&format!("BEGIN; DELETE FROM role_bindings WHERE team_id = '{}'", w.team)).await.unwrap();
    joiner
        .batch_execute(&format!(
            "BEGIN; INSERT INTO team_members (team_id, user_id) VALUES ('{}', '{}')",
            w.team, w.mia_id
        ))
        .await
        .unwrap();
    if joiner_commits_first {
        joiner.batch_execute("COMMIT").await.unwrap();
        // The removal is not committed: the team's role counts, and the process holds it.
        assert!(reads(&w.app, &w.mia, &w.workspace).await, "joined, the team's binding still there");
        assert_held(&w.app, &w.mia).await;
        remover.batch_execute("COMMIT").await.unwrap();
    } else {
        remover.batch_execute("COMMIT").await.unwrap();
        assert!(!reads(&w.app, &w.mia, &w.workspace).await, "not joined yet, the binding gone");
        assert_held(&w.app, &w.mia).await;
        joiner.batch_execute("COMMIT").await.unwrap();
    }
    assert_eq!(
        w.app.count(&format!("SELECT count(*) AS n FROM team_members WHERE user_id = '{}'", w.mia_id)).await,
        1,
        "mia is in the team"
    );
    assert_eq!(
        w.app.count(&format!("SELECT count(*) AS n FROM role_bindings WHERE team_id = '{}'", w.team)).await,
        0,
        "the team holds no role"
    );
    assert!(!reads(&w.app, &w.mia, &w.workspace).await, "the removed team role is not held after both commit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_team_role_removed_while_a_user_joins_is_not_kept_when_the_join_commits_first() {
    removal_and_join_in_concurrent_transactions(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_team_role_removed_while_a_user_joins_is_not_kept_when_the_removal_commits_first() {
    removal_and_join_in_concurrent_transactions(false).await;
}
