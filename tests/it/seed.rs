//! `capcom seed`: the demo and bench data sets, made through the domain functions; printed credentials
//! work; a database with other users is refused unless --force; a second run changes nothing.

use std::process::{Command, Output};

use serde_json::json;

use crate::common::TestApp;

fn seed(database: &str, arguments: &[&str]) -> Output {
    let data = tempfile::Builder::new().prefix("capcom-seed-").tempdir_in(std::env::temp_dir()).unwrap();
    Command::new(env!("CARGO_BIN_EXE_capcom"))
        .arg("seed")
        .args(arguments)
        .env("DATABASE_URL", database)
        .env("CAPCOM_DATA_DIR", data.path())
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    assert!(output.status.success(), "seed failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// The value after `label` on its line.
fn after<'a>(text: &'a str, label: &str) -> &'a str {
    let line = text.lines().find(|line| line.contains(label)).unwrap_or_else(|| panic!("{label} in {text}"));
    line.split_once(label).unwrap().1.trim()
}

fn counts(text: &str) -> String {
    after(text, "Counts:").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_data_signs_in_with_the_printed_password_and_key() {
    let app = TestApp::spawn().await;
    let first = stdout(&seed(&app.db_url, &[]));
    let password = after(&first, "Password of every account:").split_whitespace().next().unwrap().to_owned();
    assert!(password.len() >= 16, "a generated password: {first}");
    assert_eq!(
        counts(&first),
        "5 users, 3 workspaces, 4 deployments, 20 role bindings, 2 service accounts, 25 audit events"
    );
    let signed_in = app.sign_in("alice@example.com", &password).await;
    let token = signed_in["data"]["createToken"]["token"]["value"].as_str().unwrap_or_else(|| panic!("{signed_in}"));
    let mine = app.gql("{ workspaces { label } }", json!({}), Some(token)).await;
    assert!(mine.to_string().contains("Data Engineering"), "{mine}");
    let key = after(&first, "(\"ci\"):").to_owned();
    let by_key = app.gql("{ workspaces { label deployments { label } } }", json!({}), Some(&key)).await;
    assert!(by_key.to_string().contains("etl-nightly"), "the printed key works: {by_key}");
    // Every change went through the domain, with its audit event, made by the seed (the sign-in above is
    // the only other one).
    assert_eq!(app.count("SELECT count(*) AS n FROM audit_events WHERE request_id IS DISTINCT FROM 'seed'").await, 1);

    // Again: nothing changes, nothing secret is printed again.
    let second = stdout(&seed(&app.db_url, &[]));
    assert_eq!(counts(&second), counts(&first).replace("25 audit events", "26 audit events"), "only the sign-in");
    assert!(!second.contains(&password) && !second.contains("cck_"), "{second}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_with_other_users_needs_force() {
    let app = TestApp::spawn().await;
    app.sign_up("someone@example.com", "correct horse battery").await;
    let refused = seed(&app.db_url, &[]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--force"));
    assert_eq!(app.count("SELECT count(*) AS n FROM users").await, 1, "nothing was made");
    let forced = stdout(&seed(&app.db_url, &["--force"]));
    assert!(forced.contains("6 users"), "{forced}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bench_profile_has_the_benchmark_shape_and_is_idempotent() {
    let app = TestApp::spawn().await;
    let first = stdout(&seed(&app.db_url, &["--profile", "bench"]));
    let expected =
        "5001 users, 205 workspaces, 2100 deployments, 19982 role bindings, 105 service accounts, 10216 audit events";
    assert_eq!(counts(&first), expected, "{first}");
    let members = |label: &str| {
        format!(
            "SELECT count(*) AS n FROM role_bindings b JOIN workspaces w ON w.id = b.workspace_id \
             WHERE w.label = '{label}' AND b.user_id IS NOT NULL"
        )
    };
    assert_eq!(app.count(&members("Workspace 001")).await, 200);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM role_bindings b JOIN emails e ON e.user_id = b.user_id WHERE e.address = 'bench-member@bench.example.com' AND b.scope = 'WORKSPACE'").await,
        20
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM deploys").await, 2100);
    // The mid-size page's member: five workspaces of 11 members and 20 deployments each.
    assert_eq!(
        app.count("SELECT count(*) AS n FROM role_bindings b JOIN emails e ON e.user_id = b.user_id WHERE e.address = 'bench-mid@bench.example.com' AND b.scope = 'WORKSPACE'").await,
        5
    );
    assert_eq!(app.count(&members("Mid 3")).await, 11);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM deployments d JOIN workspaces w ON w.id = d.workspace_id WHERE w.label LIKE 'Mid %'").await,
        100
    );
    assert_eq!(app.count("SELECT count(DISTINCT deployment_id) AS n FROM environment_variables").await, 500);
    let second = stdout(&seed(&app.db_url, &["--profile", "bench"]));
    assert_eq!(counts(&second), expected, "a second run changes nothing");
    let signed_in = app.sign_in("bench-member@bench.example.com", "capcom-bench-password").await;
    assert!(signed_in["data"]["createToken"]["token"]["value"].is_string(), "{signed_in}");
}
