//! The example console (`examples/console/`) in headless Chromium. From an origin on the list it signs in,
//! lists, creates a deployment and receives a change live; from an origin not on the list the browser
//! blocks every call and the WebSocket is refused at the upgrade, so nothing changes; served by capcom
//! itself it enables only what the matrix allows and shows "Access is Denied" when refused.

use serde_json::{Value, json};

use crate::common::TestApp;
use crate::common::browser::{Browser, serve_console_files};
use capcom::config::OriginList;

const PASSWORD: &str = "correct horse battery";

async fn sign_in(browser: &Browser, identity: &str) {
    browser.wait_for("body[data-ready='true']").await;
    browser.fill("#identity", identity).await;
    browser.fill("#password", PASSWORD).await;
    browser.click("#sign-in-button").await;
}

fn messages(log: &[Value]) -> Vec<String> {
    log.iter().filter_map(|entry| entry["message"].as_str()).map(str::to_owned).collect()
}

async fn set_workspace_role(app: &TestApp, token: &str, workspace: &str, email: &str, role: &str) {
    let body = app
        .gql(
            "mutation($w: Uuid!, $email: String!, $role: Role!) { workspaceUpdateUserRole(workspaceUuid: $w, email: $email, role: $role) }",
            json!({"w": workspace, "email": email, "role": role}),
            Some(token),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_on_a_listed_origin_signs_in_lists_creates_and_watches_a_deployment_live() {
    let console = serve_console_files().await;
    let app = TestApp::spawn_with(|config| config.cors_origins = console.parse::<OriginList>().unwrap()).await;
    let (root, _) = app.sign_up("ada@example.com", PASSWORD).await;
    let workspace = app.create_workspace(&root, "Data Team").await;
    let etl = app.create_deployment(&root, &workspace, "etl").await["id"].as_str().unwrap().to_owned();

    let browser = Browser::start().await;
    browser.goto(&format!("{console}/?api={}", app.base)).await;
    sign_in(&browser, "ada@example.com").await;
    let card = format!("article[data-workspace-id='{workspace}']");
    browser.wait_for(&format!("{card}[data-can-create-deployment='true'] button.create:enabled")).await;
    assert_eq!(browser.text(&format!("{card} h2")).await, "Data Team");
    browser.wait_for(&format!("tr[data-deployment-id='{etl}'][data-status='CREATING']")).await;
    assert_eq!(browser.text("#who").await, "ada@example.com");
    assert!(!browser.displayed("#sign-in").await && browser.displayed("#workspaces").await);

    browser.fill(&format!("{card} input[name='label']"), "reporting").await;
    browser.click(&format!("{card} button.create")).await;
    browser.wait_for("#notice[data-code='OK']").await;
    let reporting = app.text("SELECT id::text AS t FROM deployments WHERE label = 'reporting'").await;
    assert!(!reporting.is_empty(), "the console created the deployment");
    let row = format!("tr[data-deployment-id='{reporting}']");
    browser.wait_for(&format!("{row}[data-worker-max='10']")).await;

    // Watch it: the first state comes over the WebSocket, then a change made by another client.
    browser.click(&format!("{row} button.watch")).await;
    browser.wait_for(&format!("{row}[data-pushes='1']")).await;
    browser.wait_for("#live[data-connected='true']").await;
    let body = app
        .gql(
            "mutation($d: Uuid!) { updateDeployment(deploymentUuid: $d, settings: {workerMax: 15}) { id } }",
            json!({"d": reporting}),
            Some(&root),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    browser.wait_for(&format!("{row}[data-pushes='2'][data-worker-max='15']")).await;
    assert_eq!(browser.text(&format!("{row} td.workers")).await, "0–15");
    let shown_max =
        browser.run("return document.querySelector(arguments[0]).value", vec![json!(format!("{row} .worker-max"))]);
    assert_eq!(shown_max.await, "15");

    let log = browser.log().await;
    assert!(log.iter().all(|entry| entry["level"] != "SEVERE"), "no error in the browser's console: {log:#?}");
    // `CAPCOM_CONSOLE_SCREENSHOT=docs/console.png cargo test --test it console_on_a_listed` refreshes the
    // README's picture.
    if let Some(path) = std::env::var_os("CAPCOM_CONSOLE_SCREENSHOT") {
        std::fs::write(path, browser.screenshot().await).unwrap();
    }
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_on_an_origin_not_on_the_list_is_blocked_by_the_browser_and_changes_nothing() {
    let listed = serve_console_files().await;
    let other = serve_console_files().await;
    let app = TestApp::spawn_with(|config| config.cors_origins = listed.parse::<OriginList>().unwrap()).await;
    let (root, _) = app.sign_up("ada@example.com", PASSWORD).await;
    let workspace = app.create_workspace(&root, "Data Team").await;
    app.create_deployment(&root, &workspace, "etl").await;
    let before = (app.access_snapshot().await, app.deployment_snapshot().await);

    let browser = Browser::start().await;
    browser.goto(&format!("{other}/?api={}", app.base)).await;
    sign_in(&browser, "ada@example.com").await;
    browser.wait_for("#notice[data-code='NETWORK']").await;
    assert!(browser.displayed("#sign-in").await && !browser.displayed("#workspaces").await);

    // Even holding a valid token, a page of that origin can neither call capcom nor open its WebSocket.
    let outcome = browser
        .run_async(
            r#"const [api, token, workspace, done] = arguments;
            const result = {};
            fetch(api + "/v1", {
              method: "POST",
              headers: {"content-type": "application/json", authorization: "Bearer " + token},
              body: JSON.stringify({
                query: "mutation($w: Uuid!) { createDeployment(workspaceUuid: $w, label: \"sneaky\") { id } }",
                variables: {w: workspace},
              }),
            })
              .then(() => "answered", (error) => "blocked: " + error.message)
              .then((fetched) => {
                result.fetch = fetched;
                const socket = new WebSocket(api.replace("http:", "ws:") + "/ws", "graphql-transport-ws");
                socket.onopen = () => { result.opened = true; };
                socket.onclose = (event) => { result.closeCode = event.code; done(result); };
              });"#,
            vec![json!(app.base), json!(root), json!(workspace)],
        )
        .await;
    assert_eq!(outcome["fetch"], "blocked: Failed to fetch", "{outcome}");
    assert_eq!(outcome.get("opened"), None, "{outcome}");
    assert_eq!(outcome["closeCode"], 1006, "{outcome}");

    let log = messages(&browser.log().await);
    let cors_errors =
        log.iter().filter(|m| m.contains(&format!("from origin '{other}' has been blocked by CORS policy"))).count();
    assert!(cors_errors >= 2, "sign-in and createDeployment blocked by CORS: {log:#?}");
    assert!(
        log.iter().any(|m| m.contains("/ws' failed") && m.contains("Unexpected response code: 403")),
        "the WebSocket is refused at the upgrade: {log:#?}"
    );
    assert_eq!((app.access_snapshot().await, app.deployment_snapshot().await), before, "nothing changed");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_served_by_capcom_enables_what_the_matrix_allows_and_shows_access_is_denied() {
    // No CORS origin at all: the console at /console/ is same-origin, WebSocket included.
    let app = TestApp::spawn_with(|config| {
        config.console = true;
        config.public_signups = true;
    })
    .await;
    let root = app.with_owners().await;
    app.sign_up("grace@example.com", PASSWORD).await;
    let workspace = app.create_workspace(&root, "Data Team").await;
    let etl = app.create_deployment(&root, &workspace, "etl").await["id"].as_str().unwrap().to_owned();
    let added = app.add_to_workspace(&root, &workspace, "grace@example.com", "WORKSPACE_VIEWER").await;
    assert!(added.get("errors").is_none(), "{added}");

    let browser = Browser::start().await;
    browser.goto(&format!("{}/console/", app.base)).await;
    assert_eq!(browser.run("return document.getElementById('api').value", vec![]).await, json!(app.base));
    sign_in(&browser, "grace@example.com").await;
    let card = format!("article[data-workspace-id='{workspace}']");
    let row = format!("tr[data-deployment-id='{etl}']");
    // A viewer: no creating, no scaling, but watching.
    browser.wait_for(&format!("{card}[data-can-create-deployment='false'] button.create:disabled")).await;
    browser.wait_for(&format!("{row} button.scale:disabled")).await;
    browser.click(&format!("{row} button.watch")).await;
    browser.wait_for(&format!("{row}[data-pushes='1']")).await;

    // Promoted to editor: after a refresh the capabilities enable creating.
    set_workspace_role(&app, &root, &workspace, "grace@example.com", "WORKSPACE_EDITOR").await;
    browser.click("#refresh").await;
    browser.wait_for(&format!("{card}[data-can-create-deployment='true'] button.create:enabled")).await;
    browser.wait_for(&format!("{row} button.scale:enabled")).await;

    // Demoted again while the page still offers the button: capcom refuses, the console says so and
    // disables it.
    set_workspace_role(&app, &root, &workspace, "grace@example.com", "WORKSPACE_VIEWER").await;
    let before = app.deployment_snapshot().await;
    browser.fill(&format!("{card} input[name='label']"), "sneaky").await;
    browser.click(&format!("{card} button.create")).await;
    browser.wait_for("#notice[data-code='FORBIDDEN']").await;
    let notice = browser.text("#notice").await;
    assert!(notice.starts_with("Access is Denied"), "{notice}");
    browser.wait_for(&format!("{card}[data-can-create-deployment='false'] button.create:disabled")).await;
    assert_eq!(app.deployment_snapshot().await, before, "nothing changed");
    browser.close().await;
}

/// The link of a mail in the outbox: the text after `marker` on its line.
pub async fn mailed_link(app: &TestApp, admin: &str, recipient: &str, marker: &str) -> String {
    let outbox = app.gql("{ mailOutbox { recipient body } }", json!({}), Some(admin)).await;
    let body = outbox["data"]["mailOutbox"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|m| m["recipient"] == recipient)
        .unwrap_or_else(|| panic!("a mail to {recipient}: {outbox}"))["body"]
        .as_str()
        .unwrap()
        .to_owned();
    let line = body.lines().find_map(|line| line.strip_prefix(marker)).unwrap_or_else(|| panic!("{marker} in {body}"));
    line.trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_link_of_an_invite_mail_opens_the_console_page_that_signs_up_with_the_token() {
    let app = TestApp::spawn_with(|config| {
        config.console = true;
        config.public_url = "https://capcom.example.com/".into();
    })
    .await;
    let (root, _) = app.sign_up("root@example.com", PASSWORD).await;
    let workspace = app.create_workspace(&root, "Data Team").await;
    let invited = app.add_to_workspace(&root, &workspace, "grace@example.com", "WORKSPACE_EDITOR").await;
    assert!(invited.get("errors").is_none(), "{invited}");

    let link = mailed_link(&app, &root, "grace@example.com", "Accept the invite: ").await;
    assert!(link.starts_with("https://capcom.example.com/console/#/invite?token=cci_"), "{link}");
    // The same page on this server: its path answers 200 with the invite form; the token stays in the
    // fragment, which the browser does not send.
    let url = reqwest::Url::parse(&link).unwrap();
    let page = app.client.get(format!("{}{}", app.base, url.path())).send().await.unwrap();
    assert_eq!(page.status(), 200, "{link}");
    assert!(page.text().await.unwrap().contains("id=\"invite\""), "the console has an invite page");

    let browser = Browser::start().await;
    browser.goto(&format!("{}{}#{}", app.base, url.path(), url.fragment().unwrap())).await;
    browser.wait_for("body[data-ready='true'] #invite:not([hidden])").await;
    browser.fill("#invite-email", "grace@example.com").await;
    browser.fill("#invite-password", PASSWORD).await;
    browser.click("#invite-sign-up").await;
    browser.wait_for(&format!("article[data-workspace-id='{workspace}']")).await;
    assert_eq!(browser.run("return location.hash", vec![]).await, json!(""), "the token left the address");
    let signed_in = app.sign_in("grace@example.com", PASSWORD).await;
    assert!(signed_in.get("errors").is_none(), "the account exists: {signed_in}");
    assert_eq!(app.count("SELECT count(*) AS n FROM invites").await, 0, "the invite was used");
    browser.close().await;
}
