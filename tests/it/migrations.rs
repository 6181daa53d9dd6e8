//! Every migration runs up, down, and up again.

use crate::common::empty_database;

#[tokio::test]
async fn migrations_run_up_down_up() {
    let url = empty_database().await;
    let applied = capcom::db::migrate::run_pending(&url).await.unwrap();
    assert!(!applied.is_empty());
    let reverted = capcom::db::migrate::revert_all(&url).await.unwrap();
    assert_eq!(reverted.len(), applied.len(), "every migration reverts");
    let again = capcom::db::migrate::run_pending(&url).await.unwrap();
    assert_eq!(again, applied);
    assert!(capcom::db::migrate::run_pending(&url).await.unwrap().is_empty(), "nothing left pending");
}

/// `2026-12-09-000001_custom_role_reads` brings roles stored before docs/custom-roles.md's two rules under
/// them: a role that changes something is given the reads its answers need, and a role carrying a
/// built-in role's name is renamed. Expectations written by hand for three roles; then, for every
/// permission, the migration gives at least the reads the rule createCustomRole applies asks for, and
/// running it again changes nothing.
#[tokio::test]
async fn the_custom_role_migration_gives_stored_roles_their_reads_and_new_names() {
    use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
    let app = crate::common::TestApp::spawn().await;
    let (root, _) = app.sign_up("root@example.com", "correct horse battery").await;
    let org = app.text("SELECT id::text AS t FROM organizations LIMIT 1").await;
    let insert = |name: &str, scope: &str, permissions: &[&str]| {
        let list = permissions.join(",");
        format!(
            "INSERT INTO custom_roles (id, organization_id, scope, name, permissions) \
             VALUES (gen_random_uuid(), '{org}', '{scope}', '{name}', '{{{list}}}')"
        )
    };
    let permissions_of =
        |name: &str| format!("SELECT array_to_string(permissions, ',') AS t FROM custom_roles WHERE name = '{name}'");
    app.execute(&insert("Updater", "DEPLOYMENT", &["deployment.config.update"])).await.unwrap();
    app.execute(&insert("Inviter", "WORKSPACE", &["workspace.iam.update"])).await.unwrap();
    app.execute(&insert("Reader", "DEPLOYMENT", &["deployment.config.get"])).await.unwrap();
    app.execute(&insert("Deployment_Viewer", "DEPLOYMENT", &["deployment.config.get"])).await.unwrap();
    // A name the rename could have chosen is already taken: the migration must still run.
    app.execute(&insert("Deployment_Viewer (custom)", "DEPLOYMENT", &["deployment.config.get"])).await.unwrap();
    let renamed_id = app.text("SELECT id::text AS t FROM custom_roles WHERE name = 'Deployment_Viewer'").await;
    // One role per write permission of the two scopes a custom role may have.
    let all: Vec<capcom::rbac::Permission> = capcom::rbac::Permission::ALL
        .iter()
        .copied()
        .filter(|p| matches!(p.scope(), capcom::rbac::Scope::Workspace | capcom::rbac::Scope::Deployment))
        .collect();
    for permission in &all {
        let scope = permission.scope().as_str();
        app.execute(&insert(&format!("only {permission}"), scope, &[permission.as_str()])).await.unwrap();
    }

    let migration = include_str!("../../migrations/2026-12-09-000001_custom_role_reads/up.sql");
    let mut conn = AsyncPgConnection::establish(&app.db_url).await.unwrap();
    conn.batch_execute(migration).await.unwrap();

    assert_eq!(app.text(&permissions_of("Updater")).await, "deployment.config.get,deployment.config.update");
    assert_eq!(
        app.text(&permissions_of("Inviter")).await,
        "workspace.config.get,workspace.iam.update,workspace.invites.get,workspace.users.get"
    );
    assert_eq!(app.text(&permissions_of("Reader")).await, "deployment.config.get", "a read needs nothing");
    let renamed =
        format!("SELECT count(*) AS n FROM custom_roles WHERE name = 'Deployment_Viewer (custom {renamed_id})'");
    assert_eq!(app.count(&renamed).await, 1);
    assert_eq!(app.count("SELECT count(*) AS n FROM custom_roles WHERE name = 'Deployment_Viewer (custom)'").await, 1);
    // The rule createCustomRole and updateCustomRole apply today (derived from the operation table) takes
    // every stored role as the migration left it: each saves again unchanged through the API.
    for permission in &all {
        let name = format!("only {permission}");
        let id = app.text(&format!("SELECT id::text AS t FROM custom_roles WHERE name = '{name}'")).await;
        let stored = app.text(&permissions_of(&name)).await;
        let stored: Vec<&str> = stored.split(',').collect();
        let saved = app
            .gql(
                "mutation($id: Uuid!, $p: [String!]!) { updateCustomRole(customRoleUuid: $id, permissions: $p) { id } }",
                serde_json::json!({"id": id, "p": stored}),
                Some(&root),
            )
            .await;
        assert!(saved.get("errors").is_none(), "{permission}: the migration gave {stored:?}: {saved}");
    }
    let before = app.text("SELECT string_agg(name || '=' || array_to_string(permissions, ','), ';' ORDER BY name) AS t FROM custom_roles").await;
    conn.batch_execute(migration).await.unwrap();
    let after = app.text("SELECT string_agg(name || '=' || array_to_string(permissions, ','), ';' ORDER BY name) AS t FROM custom_roles").await;
    assert_eq!(before, after, "running it again changes nothing");
}
