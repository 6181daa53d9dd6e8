//! The console capcom serves (`console/`) in headless Chromium, flow by flow, through the real server:
//! each flow as a role that may (it works and the database shows it) and as one that may not (the
//! control is not offered, or capcom's FORBIDDEN is shown with its request id and nothing changes).
//!
//! The pages are read from `console/` on disk (`CAPCOM_CONSOLE_DIR`), so that editing them needs no
//! rebuild; `cors::the_console_is_served_by_default…` checks that the binary serves the same files.
//! `CAPCOM_SCREENSHOTS=1 cargo test --test it console_flows` writes the pictures in `docs/console/`.

use serde_json::{Value, json};

use crate::common::TestApp;
use crate::common::browser::Browser;
use crate::common::oidc::{Person, Provider};
use crate::domains::claim_and_verify;

const PASSWORD: &str = "correct horse battery";

/// capcom serving the console from the checkout's `console/` folder.
async fn spawn(configure: impl FnOnce(&mut capcom::config::Config)) -> TestApp {
    TestApp::spawn_with(|config| {
        config.console_dir = Some(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("console"));
        configure(config);
    })
    .await
}

/// Saves a picture of the window as `docs/console/<name>.png` when `CAPCOM_SCREENSHOTS` is set.
async fn picture(browser: &Browser, name: &str) {
    if std::env::var_os("CAPCOM_SCREENSHOTS").is_none() {
        return;
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/console");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.png")), browser.screenshot().await).unwrap();
}

async fn sign_in(browser: &Browser, app: &TestApp, identity: &str) {
    browser.goto(&format!("{}/", app.base)).await;
    browser.wait_for("body[data-ready='true'] main[data-page='sign-in']").await;
    browser.fill("#identity", identity).await;
    browser.fill("#password", PASSWORD).await;
    browser.click("#sign-in-button").await;
    browser.wait_for("main[data-page='dashboard']").await;
}

async fn sign_out(browser: &Browser) {
    browser.click("#sign-out").await;
    browser.wait_for("main[data-page='sign-in']").await;
}

/// Chooses `value` in the `<select>` matching `selector`, as a person would (a `change` event follows).
async fn choose(browser: &Browser, selector: &str, value: &str) {
    browser.wait_for(selector).await;
    browser
        .run(
            "const s = document.querySelector(arguments[0]); s.value = arguments[1]; s.dispatchEvent(new Event('change'));",
            vec![json!(selector), json!(value)],
        )
        .await;
}

/// The notice's text once it shows `code` and a text containing `part` (a notice left from an earlier
/// step does not count).
async fn notice_with(browser: &Browser, code: &str, part: &str) -> String {
    let xpath = format!("//div[@id='notice'][@data-code='{code}'][contains(., \"{part}\")]");
    let waited = browser
        .client
        .wait()
        .at_most(std::time::Duration::from_secs(20))
        .for_element(fantoccini::Locator::XPath(&xpath))
        .await;
    let text = browser.text("#notice").await;
    assert!(waited.is_ok(), "no {code} notice containing {part:?}; the notice says {text:?}");
    text
}

/// The notice's text once it shows `code`.
async fn notice(browser: &Browser, code: &str) -> String {
    notice_with(browser, code, "").await
}

/// The request id capcom sent with a refusal is quoted in the notice.
fn quotes_a_request_id(text: &str) {
    let id = text.split("(request ").nth(1).and_then(|rest| rest.split(')').next()).unwrap_or_default();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "a request id in {text:?}");
}

fn ok(body: &Value) -> &Value {
    assert!(body.get("errors").is_none(), "{body}");
    &body["data"]
}

/// Whether the page is wider than the window (it should never be, at any width).
async fn overflows(browser: &Browser) -> bool {
    browser.run("return document.documentElement.scrollWidth > window.innerWidth", vec![]).await == json!(true)
}

async fn invite_token(app: &TestApp, email: &str) -> String {
    let token = app
        .text(&format!(
            "SELECT substring(body_text from 'token=([^[:space:]&]+)') AS t FROM mail_outbox \
             WHERE recipient = '{email}' ORDER BY created_at DESC LIMIT 1"
        ))
        .await;
    assert!(!token.is_empty(), "an invite mail to {email}");
    token
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_up_from_an_invite_link_sign_in_by_password_or_provider_and_sign_out_everywhere() {
    let secrets = tempfile::tempdir().unwrap();
    let dir = secrets.path().to_owned();
    let app = spawn(move |config| {
        config.oidc_allow_http = true;
        config.oidc_secrets_dir = Some(dir);
    })
    .await;
    let (root, _) = app.sign_up("root@example.com", PASSWORD).await;
    let workspace = app.create_workspace(&root, "Data Team").await;
    ok(&app.add_to_workspace(&root, &workspace, "grace@example.com", "WORKSPACE_EDITOR").await);
    let token = invite_token(&app, "grace@example.com").await;

    let browser = Browser::start().await;
    // A wrong token: capcom's refusal, with its request id; no account is made.
    browser.goto(&format!("{}/invite?token=not-the-token", app.base)).await;
    browser.fill("#signup-email", "grace@example.com").await;
    browser.fill("#signup-password", PASSWORD).await;
    browser.click("#sign-up-button").await;
    browser.wait_for("#notice[data-code]:not([data-code='OK'])").await;
    quotes_a_request_id(&browser.text("#notice").await);
    assert_eq!(app.count("SELECT count(*) AS n FROM users WHERE username = 'grace@example.com'").await, 0);

    // The mail's link: sign up there and land in the workspace one was invited to.
    browser.goto(&format!("{}/invite?token={token}", app.base)).await;
    browser.wait_for("main[data-page='sign-in'] #sign-up").await;
    picture(&browser, "invite").await;
    browser.fill("#signup-email", "grace@example.com").await;
    browser.fill("#signup-password", PASSWORD).await;
    browser.click("#sign-up-button").await;
    browser.wait_for(&format!("main[data-page='dashboard'] li[data-workspace-id='{workspace}']")).await;
    assert_eq!(browser.text("#who").await, "grace@example.com");
    let path = browser.run("return location.pathname + location.search", vec![]).await;
    assert_eq!(path, "/console/", "the spent token leaves the address");

    // Sign out (this tab), then back in by password; a wrong password is refused with capcom's message.
    sign_out(&browser).await;
    browser.fill("#identity", "grace@example.com").await;
    browser.fill("#password", "not the password").await;
    browser.click("#sign-in-button").await;
    let refused = notice(&browser, "UNAUTHENTICATED").await;
    quotes_a_request_id(&refused);
    picture(&browser, "sign-in").await;
    sign_in(&browser, &app, "grace@example.com").await;

    // Sign out everywhere: the token the page held stops working for every client.
    let held = browser.run("return sessionStorage.getItem('capcom.console.token')", vec![]).await;
    let held = held.as_str().unwrap().to_owned();
    assert_eq!(
        ok(&app.gql("{ self { username } }", json!({}), Some(&held)).await)["self"]["username"],
        "grace@example.com"
    );
    browser.click("#sign-out-everywhere").await;
    browser.wait_for("main[data-page='sign-in']").await;
    let after = app.gql("{ self { username } }", json!({}), Some(&held)).await;
    assert_eq!(after["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{after}");

    // An organization's identity provider is a button; the provider sends the person back with a one-time
    // code, which the console exchanges for a token.
    let provider = Provider::start("capcom-client", "provider-secret").await;
    let created = app.gql("mutation { createOrganization(name: \"Acme\") { id } }", json!({}), Some(&root)).await;
    let acme = ok(&created)["createOrganization"]["id"].as_str().unwrap().to_owned();
    claim_and_verify(&app, &root, &acme, "acme.test").await;
    std::fs::create_dir_all(secrets.path().join(&acme)).unwrap();
    std::fs::write(secrets.path().join(&acme).join("acme"), "provider-secret\n").unwrap();
    let body = app
        .gql(
            "mutation($o: Uuid!, $i: IdentityProviderInput!) { createIdentityProvider(organizationUuid: $o, input: $i) { id } }",
            json!({"o": acme, "i": {
                "name": "acme", "displayName": "Acme SSO", "issuerUrl": provider.issuer, "clientId": "capcom-client",
                "scopes": ["email", "profile"],
            }}),
            Some(&root),
        )
        .await;
    ok(&body);
    provider.sign_in_as(Person::new("pat-1", "pat@acme.test"));
    browser.goto(&format!("{}/", app.base)).await;
    browser.click("a.provider[data-provider='acme']").await;
    browser.wait_for("main[data-page='dashboard']").await;
    assert_eq!(browser.text("#who").await, "Person pat-1");
    assert_eq!(browser.run("return location.search", vec![]).await, "", "the code leaves the address");

    // That account's password is the provider's business: changing it here is refused with capcom's
    // message, and asking for a reset mails no link.
    browser.click("#who").await;
    browser.fill("main[data-page='account'] #change-password input[name='currentPassword']", "whatever it was").await;
    browser.fill("#change-password input[name='newPassword']", "a new passphrase").await;
    browser.fill("#change-password input[name='repeat']", "a new passphrase").await;
    browser.click("#change-password button[type='submit']").await;
    quotes_a_request_id(&notice_with(&browser, "BAD_USER_INPUT", "identity provider").await);
    sign_out(&browser).await;
    browser.click("#forgot-link").await;
    browser.fill("#forgot-password input[name='email']", "pat@acme.test").await;
    browser.click("#forgot-password button[type='submit']").await;
    notice_with(&browser, "OK", "is on its way").await;
    let mail = app
        .text(
            "SELECT body_text AS t FROM mail_outbox WHERE recipient = 'pat@acme.test' ORDER BY created_at DESC LIMIT 1",
        )
        .await;
    assert!(mail.contains("no capcom password") && !mail.contains("token="), "{mail}");

    // Acme's owner switches the provider off: the sign-in page no longer offers it.
    sign_in(&browser, &app, "root@example.com").await;
    choose(&browser, "#organization", &acme).await;
    browser.wait_for(&format!("#organization option[value='{acme}']:checked")).await;
    browser.goto(&format!("{}/console/#/organization/sign-in", app.base)).await;
    let row = format!(
        "main[data-page='organization-sign-in'] section[data-organization-id='{acme}'] tr[data-provider='acme']"
    );
    browser.click(&format!("{row}[data-enabled='true'] button.toggle")).await;
    notice_with(&browser, "OK", "Acme SSO is switched off").await;
    browser.wait_for(&format!("{row}[data-enabled='false']")).await;
    assert_eq!(app.count("SELECT count(*) AS n FROM identity_providers WHERE name = 'acme' AND NOT enabled").await, 1);
    sign_out(&browser).await;
    browser.wait_for("main[data-page='sign-in'] .signed-out[data-auth-loaded='true']").await;
    assert!(browser.client.find(fantoccini::Locator::Css("a.provider[data-provider='acme']")).await.is_err());
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workspaces_by_organization_deployments_live_and_workspace_settings_as_allowed() {
    let app = spawn(|config| config.public_signups = true).await;
    let root = app.with_owners().await;
    let (grace, _) = app.sign_up("grace@example.com", PASSWORD).await;
    let other = app.gql("mutation { createOrganization(name: \"Acme\") { id } }", json!({}), Some(&root)).await;
    let acme = ok(&other)["createOrganization"]["id"].as_str().unwrap().to_owned();
    let acme_ws = app
        .gql(
            "mutation($o: Uuid) { createWorkspace(label: \"Acme Analytics\", organizationUuid: $o) { id } }",
            json!({"o": acme}),
            Some(&root),
        )
        .await;
    let acme_ws = ok(&acme_ws)["createWorkspace"]["id"].as_str().unwrap().to_owned();

    let browser = Browser::start().await;
    sign_in(&browser, &app, "root@example.com").await;
    // Two organizations: a switcher; each shows its own workspaces.
    browser.click("#new-workspace-link").await;
    browser.fill("section[data-creating='true'] #create-workspace input[name='label']", "Data Team").await;
    browser.click("#create-workspace button[type='submit']").await;
    browser.wait_for("main[data-page='workspace-deployments']").await;
    let workspace = app.text("SELECT id::text AS t FROM workspaces WHERE label = 'Data Team'").await;
    browser.wait_for(&format!("#workspace-list a[data-workspace-id='{workspace}'][aria-current='page']")).await;
    choose(&browser, "#organization", &acme).await;
    browser.wait_for(&format!("main[data-page='dashboard'] li[data-workspace-id='{acme_ws}']")).await;
    assert!(
        browser
            .client
            .find(fantoccini::Locator::Css(&format!("#workspace-list a[data-workspace-id='{workspace}']")))
            .await
            .is_err()
    );

    // A deployment from the catalogue, its status live over the WebSocket.
    browser.goto(&format!("{}/console/#/workspaces/{workspace}", app.base)).await;
    browser.fill("#create-deployment input[name='label']", "etl").await;
    let oldest = app.gql("{ deploymentConfig { runtimeReleases { version } } }", json!({}), Some(&root)).await;
    let oldest = ok(&oldest)["deploymentConfig"]["runtimeReleases"][0]["version"].as_str().unwrap().to_owned();
    choose(&browser, "#create-deployment select[name='version']", &oldest).await;
    choose(&browser, "#create-deployment select[name='executor']", "KubernetesExecutor").await;
    browser.click("#create-deployment button[type='submit']").await;
    notice_with(&browser, "OK", "etl created").await;
    let etl = app.text("SELECT id::text AS t FROM deployments WHERE label = 'etl'").await;
    assert_eq!(
        app.text(&format!("SELECT runtime_version || ' ' || executor AS t FROM deployments WHERE id = '{etl}'")).await,
        format!("{oldest} KubernetesExecutor")
    );
    let row = format!("tr[data-deployment-id='{etl}']");
    browser.wait_for(&format!("{row}[data-live='true'][data-pushes='1']")).await;
    ok(&app
        .gql(
            "mutation($d: Uuid!) { updateDeployment(deploymentUuid: $d, settings: {workerMax: 12}) { id } }",
            json!({"d": etl}),
            Some(&root),
        )
        .await);
    browser.wait_for(&format!("{row}[data-pushes='2']")).await;
    picture(&browser, "workspace").await;

    // Settings: rename and describe; deleting is refused while a deployment lives, with capcom's reason.
    browser.click("a[data-tab='settings']").await;
    browser.fill("#workspace-settings input[name='label']", "Data Platform").await;
    browser.fill("#workspace-settings textarea[name='description']", "Pipelines and reports").await;
    browser.click("#workspace-settings button[type='submit']").await;
    notice_with(&browser, "OK", "Workspace saved.").await;
    assert_eq!(browser.text(&format!("#workspace-list a[data-workspace-id='{workspace}']")).await, "Data Platform");
    assert_eq!(
        app.text(&format!("SELECT label || '/' || description AS t FROM workspaces WHERE id = '{workspace}'")).await,
        "Data Platform/Pipelines and reports"
    );
    browser.click("#delete-workspace button.danger").await;
    browser.click("#delete-workspace button.confirm").await;
    quotes_a_request_id(&notice(&browser, "CONFLICT").await);
    picture(&browser, "workspace-settings").await;

    // A viewer: no creating, no saving, no deleting; promoted to editor after the page offered nothing,
    // then demoted while the form is open: capcom's FORBIDDEN, and nothing changes.
    ok(&app.add_to_workspace(&root, &workspace, "grace@example.com", "WORKSPACE_VIEWER").await);
    sign_out(&browser).await;
    sign_in(&browser, &app, "grace@example.com").await;
    browser.goto(&format!("{}/console/#/workspaces/{workspace}", app.base)).await;
    browser
        .wait_for(&format!("main[data-page='workspace-deployments'] section[data-can-create-deployment='false'] {row}"))
        .await;
    assert!(browser.client.find(fantoccini::Locator::Css("#create-deployment")).await.is_err());
    browser.click("a[data-tab='settings']").await;
    browser.wait_for("#workspace-settings input[name='label']:disabled").await;
    assert!(browser.client.find(fantoccini::Locator::Css("#workspace-settings button[type='submit']")).await.is_err());
    assert!(browser.client.find(fantoccini::Locator::Css("#delete-workspace")).await.is_err());
    let role = "mutation($w: Uuid!, $r: Role!) { workspaceUpdateUserRole(workspaceUuid: $w, email: \"grace@example.com\", role: $r) }";
    ok(&app.gql(role, json!({"w": workspace, "r": "WORKSPACE_EDITOR"}), Some(&root)).await);
    browser.click("a[data-tab='deployments']").await;
    browser.wait_for("section[data-can-create-deployment='true'] #create-deployment").await;
    ok(&app.gql(role, json!({"w": workspace, "r": "WORKSPACE_VIEWER"}), Some(&root)).await);
    let before = app.deployment_snapshot().await;
    browser.fill("#create-deployment input[name='label']", "sneaky").await;
    browser.click("#create-deployment button[type='submit']").await;
    let denied = notice(&browser, "FORBIDDEN").await;
    assert!(denied.starts_with("Access is Denied"), "{denied}");
    quotes_a_request_id(&denied);
    assert_eq!(app.deployment_snapshot().await, before, "nothing changed");
    let _ = grace;

    // Phone width: the page reflows instead of scrolling sideways.
    browser.resize(390, 844).await;
    browser.goto(&format!("{}/console/#/workspaces/{workspace}", app.base)).await;
    browser.wait_for(&format!("main[data-page='workspace-deployments'] {row}")).await;
    assert!(!overflows(&browser).await, "no sideways scrolling at phone width");
    picture(&browser, "workspace-phone").await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workspace_users_invites_teams_and_api_keys_as_admin_and_as_viewer() {
    let app = spawn(|config| config.public_signups = true).await;
    let root = app.with_owners().await;
    app.sign_up("grace@example.com", PASSWORD).await;
    app.sign_up("alan@example.com", PASSWORD).await;
    let workspace = app.create_workspace(&root, "Data Team").await;
    let etl = app.create_deployment(&root, &workspace, "etl").await["id"].as_str().unwrap().to_owned();
    ok(&app.add_to_workspace(&root, &workspace, "grace@example.com", "WORKSPACE_VIEWER").await);
    ok(&app.add_to_workspace(&root, &workspace, "alan@example.com", "WORKSPACE_VIEWER").await);
    let team = app.gql("mutation { createTeam(name: \"Analysts\") { id } }", json!({}), Some(&root)).await;
    let team = ok(&team)["createTeam"]["id"].as_str().unwrap().to_owned();
    ok(&app
        .gql(
            "mutation($w: Uuid!, $t: Uuid!) { workspaceAddTeam(workspaceUuid: $w, teamUuid: $t, role: WORKSPACE_EDITOR) { id } }",
            json!({"w": workspace, "t": team}),
            Some(&root),
        )
        .await);

    let browser = Browser::start().await;
    sign_in(&browser, &app, "root@example.com").await;
    browser.goto(&format!("{}/console/#/workspaces/{workspace}/users", app.base)).await;
    browser.wait_for("main[data-page='workspace-users'] #members tr[data-email='grace@example.com'][data-role='WORKSPACE_VIEWER']").await;
    browser.wait_for(&format!("#teams tr[data-team-id='{team}']")).await;

    // Invite a newcomer as editor with a deployment role: pending, then revoked.
    browser.fill("#invite-user input[name='email']", "new@example.com").await;
    choose(&browser, "#invite-user select[name='role']", "WORKSPACE_EDITOR").await;
    choose(&browser, &format!("#invite-user select[name='deployment:{etl}']"), "DEPLOYMENT_ADMIN").await;
    browser.click("#invite-user button[type='submit']").await;
    let invite = "#invites tr[data-email='new@example.com']";
    browser.wait_for(invite).await;
    assert!(browser.text(invite).await.contains("Workspace editor"));
    assert_eq!(app.count("SELECT count(*) AS n FROM invites WHERE email = 'new@example.com'").await, 1);
    picture(&browser, "workspace-users").await;
    browser.click(&format!("{invite} button.revoke")).await;
    browser.click(&format!("{invite} button.confirm")).await;
    browser.wait_for("#no-invites").await;
    assert_eq!(app.count("SELECT count(*) AS n FROM invites WHERE email = 'new@example.com'").await, 0);

    // Change a role; remove a member.
    choose(&browser, "#members tr[data-email='grace@example.com'] select", "WORKSPACE_EDITOR").await;
    notice_with(&browser, "OK", "grace@example.com is now Workspace editor").await;
    let grace_role = format!(
        "SELECT b.role AS t FROM role_bindings b JOIN users u ON u.id = b.user_id \
         WHERE u.username = 'grace@example.com' AND b.workspace_id = '{workspace}'"
    );
    assert_eq!(app.text(&grace_role).await, "WORKSPACE_EDITOR");
    browser.click("#members tr[data-email='alan@example.com'] button.remove").await;
    browser.click("#members tr[data-email='alan@example.com'] button.confirm").await;
    notice_with(&browser, "OK", "alan@example.com was removed").await;
    assert!(browser.client.find(fantoccini::Locator::Css("#members tr[data-email='alan@example.com']")).await.is_err());

    // API keys: the key once, with a copy button; it works; rotating replaces it; deleting ends it.
    browser.click("a[data-tab='keys']").await;
    browser.fill("#create-key input[name='label']", "ci").await;
    browser.fill("#create-key input[name='expiresInDays']", "30").await;
    browser.click("#create-key button[type='submit']").await;
    let first_key = browser.text("#key-once #new-key").await;
    browser.wait_for("#key-once button#copy-key").await;
    picture(&browser, "api-keys").await;
    assert_eq!(
        ok(&app.gql("{ workspaces { id } }", json!({}), Some(&first_key)).await)["workspaces"][0]["id"],
        json!(workspace)
    );
    let key_row = "#keys tr[data-label='ci']";
    assert!(browser.text(key_row).await.contains("Workspace viewer"), "the lowest role is the default");
    browser.click(&format!("{key_row} button.rotate")).await;
    notice_with(&browser, "OK", "A new key was issued").await;
    let second_key = browser.text("#key-once #new-key").await;
    assert_ne!(first_key, second_key);
    let old = app.gql("{ workspaces { id } }", json!({}), Some(&first_key)).await;
    assert_eq!(old["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{old}");
    browser.client.refresh().await.unwrap();
    browser.wait_for("main[data-page='workspace-keys'] #keys").await;
    assert!(
        !browser
            .run("return document.body.textContent.includes(arguments[0])", vec![json!(second_key)])
            .await
            .as_bool()
            .unwrap()
    );
    browser.click(&format!("{key_row} button.delete")).await;
    browser.click(&format!("{key_row} button.confirm")).await;
    browser.wait_for("#no-keys").await;
    let gone = app.gql("{ workspaces { id } }", json!({}), Some(&second_key)).await;
    assert_eq!(gone["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{gone}");

    // A deployment's keys, on its page.
    browser.goto(&format!("{}/console/#/deployments/{etl}/keys", app.base)).await;
    browser.fill("main[data-page='deployment-keys'] #create-key input[name='label']", "deployer").await;
    choose(&browser, "#create-key select[name='role']", "DEPLOYMENT_EDITOR").await;
    browser.click("#create-key button[type='submit']").await;
    browser.wait_for("#key-once #new-key").await;
    browser.wait_for("#keys tr[data-label='deployer']").await;
    assert_eq!(app.count("SELECT count(*) AS n FROM service_accounts WHERE label = 'deployer'").await, 1);

    // A viewer sees members, invites and keys, and none of the controls.
    sign_out(&browser).await;
    ok(&app
        .gql(
            "mutation($w: Uuid!) { workspaceUpdateUserRole(workspaceUuid: $w, email: \"grace@example.com\", role: WORKSPACE_VIEWER) }",
            json!({"w": workspace}),
            Some(&root),
        )
        .await);
    sign_in(&browser, &app, "grace@example.com").await;
    browser.goto(&format!("{}/console/#/workspaces/{workspace}/users", app.base)).await;
    browser.wait_for("main[data-page='workspace-users'] div[data-can-update-iam='false'] #members").await;
    for hidden in ["#invite-user", "#members select", "#members button.remove", "#add-team", "#teams select"] {
        assert!(browser.client.find(fantoccini::Locator::Css(hidden)).await.is_err(), "{hidden} is not offered");
    }
    browser.click("a[data-tab='keys']").await;
    browser.wait_for("#keys-panel[data-can-create='false']").await;
    assert!(browser.client.find(fantoccini::Locator::Css("#create-key")).await.is_err());
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_overview_settings_variables_access_and_delete_as_admin_and_as_viewer() {
    let app = spawn(|config| config.public_signups = true).await;
    let root = app.with_owners().await;
    app.sign_up("grace@example.com", PASSWORD).await;
    let workspace = app.create_workspace(&root, "Data Team").await;
    let created = app.create_deployment(&root, &workspace, "etl").await;
    let etl = created["id"].as_str().unwrap().to_owned();
    ok(&app.add_to_workspace(&root, &workspace, "grace@example.com", "WORKSPACE_VIEWER").await);

    let browser = Browser::start().await;
    sign_in(&browser, &app, "root@example.com").await;
    browser.goto(&format!("{}/console/#/deployments/{etl}", app.base)).await;
    browser.wait_for("main[data-page='deployment-overview'] #deployment-status[data-live='true']").await;
    assert_eq!(browser.text("#release-name").await, created["releaseName"].as_str().unwrap());
    assert_eq!(browser.text("#namespace").await, created["namespace"].as_str().unwrap());
    assert_eq!(browser.text("#next-tag").await, "deploy-1");
    assert!(browser.text("#airflow-url").await.starts_with("http"));
    picture(&browser, "deployment").await;

    // Settings: capcom's validation message next to its field; then a valid change is saved.
    browser.click("a[data-tab='settings']").await;
    browser.fill("#deployment-settings input[name='workerMax']", "9999").await;
    browser.click("#deployment-settings button[type='submit']").await;
    quotes_a_request_id(&notice(&browser, "BAD_USER_INPUT").await);
    let message =
        browser.text("#deployment-settings input[name='workerMax'][aria-invalid='true'] ~ .field-error").await;
    assert!(message.contains("workerMax"), "{message}");
    picture(&browser, "deployment-settings").await;
    browser.fill("#deployment-settings input[name='workerMax']", "20").await;
    browser.click("#deployment-settings button[type='submit']").await;
    notice_with(&browser, "OK", "Settings saved").await;
    assert_eq!(app.count(&format!("SELECT worker_max::bigint AS n FROM deployments WHERE id = '{etl}'")).await, 20);

    // Variables: a secret is masked, and kept when saved again with an empty value.
    browser.click("a[data-tab='variables']").await;
    browser.click("#add-variable").await;
    browser.fill("#variables tr.variable:last-child .var-key", "API_TOKEN").await;
    browser.fill("#variables tr.variable:last-child .var-value", "s3cret-value").await;
    browser.click("#variables tr.variable:last-child input[name='isSecret']").await;
    browser.click("#add-variable").await;
    browser.fill("#variables tr.variable:last-child .var-key", "REGION").await;
    browser.fill("#variables tr.variable:last-child .var-value", "eu").await;
    browser.click("#variables-form button[type='submit']").await;
    notice_with(&browser, "OK", "Variables saved").await;
    let secret = "#variables tr[data-key='API_TOKEN'] .var-value";
    assert_eq!(
        browser
            .run("const v = document.querySelector(arguments[0]); return [v.type, v.value]", vec![json!(secret)])
            .await,
        json!(["password", ""])
    );
    let stored = format!(
        "SELECT encode(secret_ciphertext, 'hex') AS t FROM environment_variables WHERE deployment_id = '{etl}' AND key = 'API_TOKEN'"
    );
    let sealed = app.text(&stored).await;
    assert!(!sealed.is_empty() && !sealed.contains("s3cret-value"), "sealed at rest");
    browser.click("#notice button.link").await;
    browser.fill("#variables tr[data-key='REGION'] .var-value", "us").await;
    browser.click("#variables-form button[type='submit']").await;
    browser.wait_for("#variables tr[data-key='REGION'] .var-value").await;
    notice_with(&browser, "OK", "Variables saved").await;
    assert_eq!(app.text(&stored).await, sealed, "the secret was kept");
    assert_eq!(
        app.text(&format!(
            "SELECT value AS t FROM environment_variables WHERE deployment_id = '{etl}' AND key = 'REGION'"
        ))
        .await,
        "us"
    );
    picture(&browser, "deployment-variables").await;

    // Access: give a workspace member a deployment role, then take it away.
    browser.click("a[data-tab='access']").await;
    browser.fill("#set-deployment-role input[name='email']", "grace@example.com").await;
    choose(&browser, "#set-deployment-role select[name='role']", "DEPLOYMENT_EDITOR").await;
    browser.click("#set-deployment-role button[type='submit']").await;
    let grace_row = "#deployment-users tr[data-email='grace@example.com'][data-role='DEPLOYMENT_EDITOR']";
    browser.wait_for(grace_row).await;
    picture(&browser, "deployment-access").await;
    let grace_binding = format!(
        "SELECT count(*) AS n FROM role_bindings b JOIN users u ON u.id = b.user_id \
         WHERE u.username = 'grace@example.com' AND b.deployment_id = '{etl}'"
    );
    assert_eq!(app.count(&grace_binding).await, 1);
    browser.click(&format!("{grace_row} button.remove")).await;
    browser.click(&format!("{grace_row} button.confirm")).await;
    notice_with(&browser, "OK", "no longer holds a role").await;
    assert_eq!(app.count(&grace_binding).await, 0);

    // A workspace viewer: reads the overview and settings, changes nothing, is offered no delete.
    sign_out(&browser).await;
    sign_in(&browser, &app, "grace@example.com").await;
    browser.goto(&format!("{}/console/#/deployments/{etl}/settings", app.base)).await;
    browser.wait_for("main[data-page='deployment-settings'] section[data-can-update='false']").await;
    browser.wait_for("#deployment-settings input[name='workerMax']:disabled").await;
    for hidden in ["#deployment-settings button[type='submit']", "#delete-deployment"] {
        assert!(browser.client.find(fantoccini::Locator::Css(hidden)).await.is_err(), "{hidden} is not offered");
    }
    browser.click("a[data-tab='access']").await;
    browser.wait_for("main[data-page='deployment-access']").await;
    assert!(browser.client.find(fantoccini::Locator::Css("#set-deployment-role")).await.is_err());
    browser.click("a[data-tab='variables']").await;
    browser.wait_for("main[data-page='deployment-variables']").await;
    assert!(browser.client.find(fantoccini::Locator::Css("#add-variable")).await.is_err());

    // The admin deletes it: gone from the workspace's list.
    sign_out(&browser).await;
    sign_in(&browser, &app, "root@example.com").await;
    browser.goto(&format!("{}/console/#/deployments/{etl}/settings", app.base)).await;
    browser.click("#delete-deployment button.danger").await;
    browser.click("#delete-deployment button.confirm").await;
    browser.wait_for("main[data-page='workspace-deployments'] #no-deployments").await;
    notice_with(&browser, "OK", "etl deleted").await;
    assert_eq!(
        app.count(&format!("SELECT count(*) AS n FROM deployments WHERE id = '{etl}' AND deleted_at IS NOT NULL"))
            .await,
        1
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_organization_system_and_account_pages_as_owner_billing_admin_and_member() {
    let app = spawn(|config| config.public_signups = true).await;
    let root = app.with_owners().await;
    app.sign_up("grace@example.com", PASSWORD).await;
    let organization = app.text("SELECT id::text AS t FROM organizations WHERE is_default").await;
    let grace_role = format!(
        "SELECT b.role AS t FROM role_bindings b JOIN users u ON u.id = b.user_id \
         WHERE u.username = 'grace@example.com' AND b.organization_id = '{organization}'"
    );
    assert_eq!(app.text(&grace_role).await, "ORGANIZATION_MEMBER");

    let browser = Browser::start().await;
    sign_in(&browser, &app, "root@example.com").await;
    // The system pages, for system roles: every user, and system roles granted from there.
    browser.click("#system-link").await;
    let grace_system = "#system-users tr[data-email='grace@example.com']";
    browser.wait_for(&format!("main[data-page='system-users'] {grace_system}[data-system-roles='']")).await;
    choose(&browser, &format!("{grace_system} select"), "SYSTEM_VIEWER").await;
    browser.wait_for(&format!("{grace_system}[data-system-roles='SYSTEM_VIEWER']")).await;
    picture(&browser, "system").await;
    browser.click(&format!("{grace_system} button.danger")).await;
    browser.click(&format!("{grace_system} button.confirm")).await;
    browser.wait_for(&format!("{grace_system}[data-system-roles='']")).await;
    let system_roles = "SELECT count(*) AS n FROM role_bindings b JOIN users u ON u.id = b.user_id \
         WHERE u.username = 'grace@example.com' AND b.role LIKE 'SYSTEM_%'";
    assert_eq!(app.count(system_roles).await, 0);

    browser.click("#organization-link").await;
    let grace = "#org-people tr[data-email='grace@example.com']";
    browser.wait_for(&format!("main[data-page='organization-people'] {grace}")).await;
    choose(&browser, &format!("{grace} select"), "ORGANIZATION_BILLING_ADMIN").await;
    notice_with(&browser, "OK", "grace@example.com is now Organization billing admin").await;
    assert_eq!(app.text(&grace_role).await, "ORGANIZATION_BILLING_ADMIN");
    picture(&browser, "organization").await;

    browser.click("a[data-tab='teams']").await;
    browser.fill("#create-team input[name='name']", "Analysts").await;
    browser.click("#create-team button[type='submit']").await;
    notice_with(&browser, "OK", "Team Analysts created").await;
    assert_eq!(app.count("SELECT count(*) AS n FROM teams WHERE name = 'Analysts'").await, 1);

    browser.click("a[data-tab='audit']").await;
    browser.wait_for("#audit tr[data-action='team.create']").await;
    browser.click("a[data-tab='sign-in']").await;
    browser.fill("#claim-domain input[name='domain']", "example.org").await;
    browser.click("#claim-domain button[type='submit']").await;
    browser.wait_for("#domains tr[data-domain='example.org'][data-verified='false']").await;
    assert_eq!(app.count("SELECT count(*) AS n FROM organization_domains WHERE domain = 'example.org'").await, 1);
    browser.click("a[data-tab='keys']").await;
    browser.fill("#create-key input[name='label']", "terraform").await;
    browser.click("#create-key button[type='submit']").await;
    browser.wait_for("#key-once #new-key").await;
    assert_eq!(app.count("SELECT count(*) AS n FROM service_accounts WHERE label = 'terraform'").await, 1);

    // The billing admin: billing yes; people, the audit log and keys no; no system pages.
    sign_out(&browser).await;
    sign_in(&browser, &app, "grace@example.com").await;
    assert!(browser.client.find(fantoccini::Locator::Css("#system-link")).await.is_err());
    browser.goto(&format!("{}/console/#/system", app.base)).await;
    quotes_a_request_id(&notice(&browser, "FORBIDDEN").await);
    // Her own account: the name shows at the top.
    browser.click("#who").await;
    browser.fill("main[data-page='account'] #profile input[name='fullName']", "Grace Hopper").await;
    browser.click("#profile button[type='submit']").await;
    notice_with(&browser, "OK", "Profile saved").await;
    assert_eq!(browser.text("#who").await, "Grace Hopper");
    browser.goto(&format!("{}/console/#/organization/settings", app.base)).await;
    browser
        .fill("main[data-page='organization-settings'] #org-settings input[name='billingCompany']", "Example Ltd")
        .await;
    browser.click("#org-settings button[type='submit']").await;
    notice_with(&browser, "OK", "Organization saved").await;
    assert_eq!(
        app.text(&format!("SELECT billing_company AS t FROM organizations WHERE id = '{organization}'")).await,
        "Example Ltd"
    );
    browser.click("a[data-tab='people']").await;
    browser.wait_for("main[data-page='organization-people'] #org-people").await;
    for hidden in ["#org-invite", "#org-people select", "#org-people button.remove"] {
        assert!(browser.client.find(fantoccini::Locator::Css(hidden)).await.is_err(), "{hidden} is not offered");
    }
    browser.click("a[data-tab='audit']").await;
    browser.wait_for("#audit-hidden").await;
    browser.click("a[data-tab='keys']").await;
    browser.wait_for("#keys-hidden").await;

    // A member reads the settings and changes nothing.
    let member = "mutation($o: Uuid!, $u: Uuid!) { organizationUpdateUserRole(organizationUuid: $o, userUuid: $u, role: ORGANIZATION_MEMBER) }";
    let grace_id = app.text("SELECT id::text AS t FROM users WHERE username = 'grace@example.com'").await;
    ok(&app.gql(member, json!({"o": organization, "u": grace_id}), Some(&root)).await);
    browser.goto(&format!("{}/console/#/organization/settings", app.base)).await;
    browser
        .wait_for("main[data-page='organization-settings'] #org-settings input[name='billingCompany']:disabled")
        .await;
    assert!(browser.client.find(fantoccini::Locator::Css("#org-settings button[type='submit']")).await.is_err());
    browser.click("a[data-tab='sign-in']").await;
    browser.wait_for("main[data-page='organization-sign-in'] #sign-in-hidden").await;
    browser.close().await;
}

/// The token of the newest password-reset mail to `email` (its link is `…/console/#/reset-password?token=…`).
async fn reset_token(app: &TestApp, email: &str) -> String {
    let token = app
        .text(&format!(
            "SELECT substring(body_text from '/console/#/reset-password\\?token=([^[:space:]&]+)') AS t FROM mail_outbox \
             WHERE recipient = '{email}' ORDER BY created_at DESC LIMIT 1"
        ))
        .await;
    assert!(token.starts_with("ccr_"), "a reset mail to {email} linking to the console's page: {token:?}");
    token
}

/// Whether `password` signs `identity` in (asked of the API, not the page).
async fn password_works(app: &TestApp, identity: &str, password: &str) -> bool {
    app.sign_in(identity, password).await.get("errors").is_none()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forgotten_password_reset_from_the_mail_link_and_a_password_changed_in_the_account_page() {
    const NEW: &str = "a brand new passphrase";
    const NEWER: &str = "and yet another one";
    let app = spawn(|config| config.public_signups = true).await;
    app.with_owners().await;
    app.sign_up("grace@example.com", PASSWORD).await;

    let browser = Browser::start().await;
    // Forgot: the sign-in page's link, then the same answer whatever the address.
    browser.goto(&format!("{}/", app.base)).await;
    browser.click("body[data-ready='true'] main[data-page='sign-in'] #forgot-link").await;
    browser.fill("main[data-page='forgot-password'] #forgot-password input[name='email']", "grace@example.com").await;
    browser.click("#forgot-password button[type='submit']").await;
    notice_with(&browser, "OK", "is on its way").await;
    browser.wait_for("main[data-page='sign-in']").await;
    let token = reset_token(&app, "grace@example.com").await;

    // A link whose token capcom does not know: its message and request id, and the password stays.
    browser.goto(&format!("{}/console/#/reset-password?token=ccr_not-a-real-token", app.base)).await;
    browser.fill("main[data-page='reset-password'] #reset-password input[name='password']", NEW).await;
    browser.fill("#reset-password input[name='repeat']", NEW).await;
    browser.click("#reset-button").await;
    let refused = notice_with(&browser, "BAD_USER_INPUT", "reset link is invalid").await;
    quotes_a_request_id(&refused);
    assert!(password_works(&app, "grace@example.com", PASSWORD).await, "nothing changed");

    // The mail's link, opened in a fresh page: two different passwords are refused before capcom is
    // asked; then the new password is set and the page asks to sign in with it.
    browser.goto(&format!("{}/", app.base)).await;
    browser.goto(&format!("{}/console/#/reset-password?token={token}", app.base)).await;
    browser.fill("main[data-page='reset-password'] #reset-password input[name='password']", NEW).await;
    browser.fill("#reset-password input[name='repeat']", "something else").await;
    browser.click("#reset-button").await;
    browser.wait_for("#reset-password input[name='repeat'][aria-invalid='true']").await;
    assert!(password_works(&app, "grace@example.com", PASSWORD).await, "nothing changed");
    picture(&browser, "reset-password").await;
    browser.fill("#reset-password input[name='repeat']", NEW).await;
    browser.click("#reset-button").await;
    notice_with(&browser, "OK", "Your password is set").await;
    browser.wait_for("main[data-page='sign-in'] #sign-in").await;
    assert_eq!(browser.run("return location.hash", vec![]).await, "", "the spent token leaves the address");
    assert!(!password_works(&app, "grace@example.com", PASSWORD).await, "the old password stopped working");
    assert!(password_works(&app, "grace@example.com", NEW).await);
    // The link works once.
    browser.goto(&format!("{}/console/#/reset-password?token={token}", app.base)).await;
    browser.fill("main[data-page='reset-password'] #reset-password input[name='password']", NEWER).await;
    browser.fill("#reset-password input[name='repeat']", NEWER).await;
    browser.click("#reset-button").await;
    notice_with(&browser, "BAD_USER_INPUT", "was used already").await;
    assert!(password_works(&app, "grace@example.com", NEW).await, "nothing changed");

    // Signed in: a wrong current password is refused next to its field, and the session goes on.
    browser.goto(&format!("{}/", app.base)).await;
    browser.wait_for("body[data-ready='true'] main[data-page='sign-in']").await;
    browser.fill("#identity", "grace@example.com").await;
    browser.fill("#password", NEW).await;
    browser.click("#sign-in-button").await;
    browser.wait_for("main[data-page='dashboard']").await;
    let held = browser.run("return sessionStorage.getItem('capcom.console.token')", vec![]).await;
    let held = held.as_str().unwrap().to_owned();
    browser.click("#who").await;
    browser.fill("main[data-page='account'] #change-password input[name='currentPassword']", "not my password").await;
    browser.fill("#change-password input[name='newPassword']", NEWER).await;
    browser.fill("#change-password input[name='repeat']", NEWER).await;
    browser.click("#change-password button[type='submit']").await;
    quotes_a_request_id(&notice_with(&browser, "BAD_USER_INPUT", "not correct").await);
    browser.wait_for("#change-password input[name='currentPassword'][aria-invalid='true']").await;
    assert!(password_works(&app, "grace@example.com", NEW).await, "nothing changed");
    assert!(ok(&app.gql("{ self { username } }", json!({}), Some(&held)).await)["self"].is_object());

    // The right one: the password changes, every older token stops working, and this tab goes on with
    // the fresh token capcom answered with.
    browser.fill("#change-password input[name='currentPassword']", NEW).await;
    browser.fill("#change-password input[name='newPassword']", NEWER).await;
    browser.fill("#change-password input[name='repeat']", NEWER).await;
    browser.click("#change-password button[type='submit']").await;
    notice_with(&browser, "OK", "Password changed").await;
    picture(&browser, "account").await;
    assert!(password_works(&app, "grace@example.com", NEWER).await);
    assert!(!password_works(&app, "grace@example.com", NEW).await);
    let old = app.gql("{ self { username } }", json!({}), Some(&held)).await;
    assert_eq!(old["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{old}");
    let fresh = browser.run("return sessionStorage.getItem('capcom.console.token')", vec![]).await;
    assert_ne!(fresh.as_str().unwrap(), held);
    browser.click("a.brand").await;
    browser.wait_for("main[data-page='dashboard']").await;
    assert_eq!(browser.text("#who").await, "grace@example.com");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_teams_members_and_organization_role_edited_by_an_owner_and_only_read_by_a_member() {
    let app = spawn(|config| config.public_signups = true).await;
    let root = app.with_owners().await;
    app.sign_up("grace@example.com", PASSWORD).await;
    app.sign_up("alan@example.com", PASSWORD).await;
    let organization = app.text("SELECT id::text AS t FROM organizations WHERE is_default").await;
    let team = app.gql("mutation { createTeam(name: \"Analysts\") { id } }", json!({}), Some(&root)).await;
    let team = ok(&team)["createTeam"]["id"].as_str().unwrap().to_owned();
    let alan = app.text("SELECT id::text AS t FROM users WHERE username = 'alan@example.com'").await;
    ok(&app
        .gql(
            "mutation($t: Uuid!, $u: Uuid!) { teamAddUser(teamUuid: $t, userUuid: $u) { id } }",
            json!({"t": team, "u": alan}),
            Some(&root),
        )
        .await);
    let members = |email: &str| {
        format!(
            "SELECT count(*) AS n FROM team_members m JOIN users u ON u.id = m.user_id \
             WHERE m.team_id = '{team}' AND u.username = '{email}'"
        )
    };
    let team_role =
        format!("SELECT role AS t FROM role_bindings WHERE team_id = '{team}' AND organization_id = '{organization}'");

    let browser = Browser::start().await;
    sign_in(&browser, &app, "root@example.com").await;
    browser.goto(&format!("{}/console/#/organization/teams", app.base)).await;
    browser.click(&format!("#org-teams tr[data-team-id='{team}'] a.team-link")).await;
    browser.wait_for("main[data-page='organization-teams-one'] #team-members tr[data-email='alan@example.com']").await;

    // Add a member of the organization; give the team an organization role; rename it.
    choose(
        &browser,
        "#team-add-member select[name='userId']",
        &app.text("SELECT id::text AS t FROM users WHERE username = 'grace@example.com'").await,
    )
    .await;
    browser.click("#team-add-member button[type='submit']").await;
    notice_with(&browser, "OK", "grace@example.com joined Analysts").await;
    browser.wait_for("#team-members tr[data-email='grace@example.com']").await;
    assert_eq!(app.count(&members("grace@example.com")).await, 1);
    choose(&browser, "select#team-org-role", "ORGANIZATION_BILLING_ADMIN").await;
    notice_with(&browser, "OK", "Analysts is now Organization billing admin").await;
    assert_eq!(app.text(&team_role).await, "ORGANIZATION_BILLING_ADMIN");
    // A system role for the team, given and taken away by a system admin.
    let system_role =
        format!("SELECT count(*) AS n FROM role_bindings WHERE team_id = '{team}' AND role = 'SYSTEM_VIEWER'");
    choose(&browser, "select#team-system-role", "SYSTEM_VIEWER").await;
    notice_with(&browser, "OK", "Analysts is now System viewer").await;
    assert_eq!(app.count(&system_role).await, 1);
    choose(&browser, "select#team-system-role", "").await;
    notice_with(&browser, "OK", "Analysts holds no system role").await;
    assert_eq!(app.count(&system_role).await, 0);
    browser.fill("#team-details input[name='description']", "Reports and dashboards").await;
    browser.click("#team-details button[type='submit']").await;
    notice_with(&browser, "OK", "Team Analysts saved").await;
    assert_eq!(
        app.text(&format!("SELECT description AS t FROM teams WHERE id = '{team}'")).await,
        "Reports and dashboards"
    );
    picture(&browser, "team").await;

    // Remove a member.
    let alan_row = "#team-members tr[data-email='alan@example.com']";
    browser.click(&format!("{alan_row} button.remove")).await;
    browser.click(&format!("{alan_row} button.confirm")).await;
    notice_with(&browser, "OK", "alan@example.com left Analysts").await;
    assert_eq!(app.count(&members("alan@example.com")).await, 0);

    // A member of the organization (and of the team) reads the team and is offered no change.
    sign_out(&browser).await;
    sign_in(&browser, &app, "alan@example.com").await;
    browser.goto(&format!("{}/console/#/organization/teams/{team}", app.base)).await;
    browser
        .wait_for("main[data-page='organization-teams-one'] #team[data-can-manage='false'] #team-members tr[data-email='grace@example.com']")
        .await;
    browser.wait_for("#team-details input[name='name']:disabled").await;
    for hidden in [
        "#team-add-member",
        "#team-members button.remove",
        "select#team-org-role",
        "#team-system-role",
        "#team-details button[type='submit']",
    ] {
        assert!(browser.client.find(fantoccini::Locator::Css(hidden)).await.is_err(), "{hidden} is not offered");
    }
    assert_eq!(browser.text("p#team-org-role").await, "Organization billing admin");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_and_airflow_upgrades_requested_and_cancelled_as_admin_and_only_read_by_a_viewer() {
    let app = spawn(|config| config.public_signups = true).await;
    let root = app.with_owners().await;
    app.sign_up("grace@example.com", PASSWORD).await;
    let workspace = app.create_workspace(&root, "Data Team").await;
    let catalogue =
        app.gql("{ deploymentConfig { runtimeReleases { version airflowVersion } } }", json!({}), Some(&root)).await;
    let releases = ok(&catalogue)["deploymentConfig"]["runtimeReleases"].as_array().unwrap().clone();
    assert!(releases.len() >= 3, "the catalogue has versions to upgrade to");
    let version = |i: usize, key: &str| releases[i][key].as_str().unwrap().to_owned();
    let created = app
        .gql(
            "mutation($w: Uuid!, $v: String) { createDeployment(workspaceUuid: $w, label: \"etl\", version: $v) { id } }",
            json!({"w": workspace, "v": version(0, "version")}),
            Some(&root),
        )
        .await;
    let etl = ok(&created)["createDeployment"]["id"].as_str().unwrap().to_owned();
    ok(&app.add_to_workspace(&root, &workspace, "grace@example.com", "WORKSPACE_VIEWER").await);
    let desired = format!(
        "SELECT coalesce(desired_runtime_version, '-') || ' ' || coalesce(desired_airflow_version, '-') AS t \
         FROM deployments WHERE id = '{etl}'"
    );

    let browser = Browser::start().await;
    sign_in(&browser, &app, "root@example.com").await;
    browser.goto(&format!("{}/console/#/deployments/{etl}/versions", app.base)).await;
    browser.wait_for("main[data-page='deployment-versions'] #versions[data-desired-runtime='']").await;
    assert_eq!(browser.text("#running-runtime").await, version(0, "version"));

    // A later runtime from the catalogue: requested, then withdrawn.
    let newest = releases.len() - 1;
    choose(&browser, "#runtime-upgrade select[name='desiredRuntimeVersion']", &version(newest, "version")).await;
    browser.click("#runtime-upgrade button[type='submit']").await;
    notice_with(&browser, "OK", &format!("Runtime {} requested", version(newest, "version"))).await;
    browser.wait_for(&format!("#versions[data-desired-runtime='{}']", version(newest, "version"))).await;
    assert_eq!(app.text(&desired).await, format!("{} -", version(newest, "version")));
    picture(&browser, "deployment-versions").await;
    browser.click("#cancel-runtime-upgrade button.danger").await;
    browser.click("#cancel-runtime-upgrade button.confirm").await;
    notice_with(&browser, "OK", "runtime upgrade was withdrawn").await;
    browser.wait_for("#versions[data-desired-runtime='']").await;
    assert_eq!(app.text(&desired).await, "- -");

    // A later Airflow version.
    choose(&browser, "#airflow-upgrade select[name='desiredAirflowVersion']", &version(1, "airflowVersion")).await;
    browser.click("#airflow-upgrade button[type='submit']").await;
    notice_with(&browser, "OK", &format!("Airflow {} requested", version(1, "airflowVersion"))).await;
    browser.wait_for(&format!("#versions[data-desired-airflow='{}']", version(1, "airflowVersion"))).await;
    assert_eq!(app.text(&desired).await, format!("- {}", version(1, "airflowVersion")));

    // A workspace viewer reads the versions and is offered no request and no cancel.
    ok(&app
        .gql(
            "mutation($d: Uuid!, $v: String!) { updateDeploymentRuntime(deploymentUuid: $d, desiredRuntimeVersion: $v) { id } }",
            json!({"d": etl, "v": version(newest, "version")}),
            Some(&root),
        )
        .await);
    sign_out(&browser).await;
    sign_in(&browser, &app, "grace@example.com").await;
    browser.goto(&format!("{}/console/#/deployments/{etl}/versions", app.base)).await;
    browser.wait_for("main[data-page='deployment-versions'] #versions-read-only").await;
    assert_eq!(browser.text("#requested-runtime").await, version(newest, "version"));
    for hidden in ["#runtime-upgrade", "#airflow-upgrade", "#cancel-runtime-upgrade"] {
        assert!(browser.client.find(fantoccini::Locator::Css(hidden)).await.is_err(), "{hidden} is not offered");
    }
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dedicated_clusters_created_edited_and_deleted_by_an_owner_and_only_read_by_a_member() {
    let app = spawn(|config| config.public_signups = true).await;
    app.with_owners().await;
    app.sign_up("grace@example.com", PASSWORD).await;
    let cluster_row = |name: &str| {
        format!(
            "SELECT provider || ' ' || region || ' ' || array_to_string(namespaces, ',') AS t FROM clusters WHERE name = '{name}'"
        )
    };

    let browser = Browser::start().await;
    sign_in(&browser, &app, "root@example.com").await;
    browser.goto(&format!("{}/console/#/organization/clusters", app.base)).await;
    browser.fill("main[data-page='organization-clusters'] #create-cluster input[name='name']", "eu-prod").await;
    browser.fill("#create-cluster input[name='provider']", "aws").await;
    browser.fill("#create-cluster input[name='region']", "eu-west-1").await;
    // A namespace capcom refuses: its message next to the field, and no cluster.
    browser.fill("#create-cluster input[name='namespaces']", "Not_A_Namespace").await;
    browser.click("#create-cluster button[type='submit']").await;
    quotes_a_request_id(&notice(&browser, "BAD_USER_INPUT").await);
    browser.wait_for("#create-cluster input[name='namespaces'][aria-invalid='true']").await;
    assert_eq!(app.count("SELECT count(*) AS n FROM clusters WHERE name = 'eu-prod'").await, 0);
    browser.fill("#create-cluster input[name='namespaces']", "airflow-1, airflow-2").await;
    browser.click("#create-cluster button[type='submit']").await;
    notice_with(&browser, "OK", "Cluster eu-prod created").await;
    let row = "#org-clusters tr[data-name='eu-prod'][data-kind='DEDICATED']";
    browser.wait_for(row).await;
    assert_eq!(app.text(&cluster_row("eu-prod")).await, "aws eu-west-1 airflow-1,airflow-2");
    picture(&browser, "organization-clusters").await;

    // Edit it.
    browser.click(&format!("{row} details summary")).await;
    browser.fill(&format!("{row} .edit-cluster input[name='region']"), "eu-central-1").await;
    browser.click(&format!("{row} .edit-cluster button[type='submit']")).await;
    notice_with(&browser, "OK", "Cluster eu-prod saved").await;
    assert_eq!(app.text(&cluster_row("eu-prod")).await, "aws eu-central-1 airflow-1,airflow-2");

    // A member sees the cluster and no control.
    sign_out(&browser).await;
    sign_in(&browser, &app, "grace@example.com").await;
    browser.goto(&format!("{}/console/#/organization/clusters", app.base)).await;
    browser
        .wait_for(&format!("main[data-page='organization-clusters'] #clusters-panel[data-can-create='false'] {row}"))
        .await;
    for hidden in ["#create-cluster", "#org-clusters button.delete", "#org-clusters .edit-cluster"] {
        assert!(browser.client.find(fantoccini::Locator::Css(hidden)).await.is_err(), "{hidden} is not offered");
    }

    // The owner deletes it.
    sign_out(&browser).await;
    sign_in(&browser, &app, "root@example.com").await;
    browser.goto(&format!("{}/console/#/organization/clusters", app.base)).await;
    browser.click(&format!("{row} button.delete")).await;
    browser.click(&format!("{row} button.confirm")).await;
    notice_with(&browser, "OK", "Cluster eu-prod deleted").await;
    assert_eq!(app.count("SELECT count(*) AS n FROM clusters WHERE name = 'eu-prod'").await, 0);
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_api_keys_and_forced_password_resets_by_a_system_admin_and_only_read_by_a_system_viewer() {
    let app = spawn(|config| config.public_signups = true).await;
    let root = app.with_owners().await;
    let (_, grace) = app.sign_up("grace@example.com", PASSWORD).await;
    ok(&app.grant_system_role(&root, &grace, "SYSTEM_VIEWER").await);
    app.sign_up("alan@example.com", PASSWORD).await;

    let browser = Browser::start().await;
    sign_in(&browser, &app, "root@example.com").await;
    browser.click("#system-link").await;
    // A forced password reset: the password stops working and a reset link is mailed.
    let alan = "#system-users tr[data-email='alan@example.com']";
    browser.click(&format!("main[data-page='system-users'] {alan} button.force-reset")).await;
    browser.click(&format!("{alan} button.confirm")).await;
    notice_with(&browser, "OK", "alan@example.com's password was removed").await;
    assert!(app.sign_in("alan@example.com", PASSWORD).await.get("errors").is_some(), "the password was removed");
    reset_token(&app, "alan@example.com").await;
    browser.click("a[data-tab='keys']").await;
    browser.fill("main[data-page='system-keys'] #create-key input[name='label']", "monitoring").await;
    choose(&browser, "#create-key select[name='role']", "SYSTEM_VIEWER").await;
    browser.click("#create-key button[type='submit']").await;
    let key = browser.text("#key-once #new-key").await;
    let row = "#keys tr[data-label='monitoring']";
    browser.wait_for(row).await;
    picture(&browser, "system-keys").await;
    // The key reads what a system viewer reads.
    assert!(ok(&app.gql("{ workspaces(all: true) { id } }", json!({}), Some(&key)).await)["workspaces"].is_array());
    browser.click(&format!("{row} button.rotate")).await;
    notice_with(&browser, "OK", "A new key was issued").await;
    let rotated = browser.text("#key-once #new-key").await;
    assert_ne!(rotated, key);
    let old = app.gql("{ workspaces(all: true) { id } }", json!({}), Some(&key)).await;
    assert_eq!(old["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{old}");

    // A system viewer sees the key and is offered nothing.
    sign_out(&browser).await;
    sign_in(&browser, &app, "grace@example.com").await;
    browser.click("#system-link").await;
    browser.click("a[data-tab='keys']").await;
    browser.wait_for(&format!("main[data-page='system-keys'] #keys-panel[data-can-create='false'] {row}")).await;
    for hidden in ["#create-key", "#keys button.rotate", "#keys button.delete"] {
        assert!(browser.client.find(fantoccini::Locator::Css(hidden)).await.is_err(), "{hidden} is not offered");
    }
    browser.click("a[data-tab='users']").await;
    browser.wait_for("main[data-page='system-users'] #system-users tr[data-email='alan@example.com']").await;
    assert!(browser.client.find(fantoccini::Locator::Css("#system-users button.force-reset")).await.is_err());

    // The admin deletes it; it stops working.
    sign_out(&browser).await;
    sign_in(&browser, &app, "root@example.com").await;
    browser.goto(&format!("{}/console/#/system/keys", app.base)).await;
    browser.click(&format!("{row} button.delete")).await;
    browser.click(&format!("{row} button.confirm")).await;
    browser.wait_for("#no-keys").await;
    let gone = app.gql("{ workspaces(all: true) { id } }", json!({}), Some(&rotated)).await;
    assert_eq!(gone["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{gone}");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_filtered_paged_and_exported_by_an_owner_and_hidden_from_a_member() {
    let app = spawn(|config| config.public_signups = true).await;
    let root = app.with_owners().await;
    app.sign_up("grace@example.com", PASSWORD).await;
    let workspace = app.create_workspace(&root, "Data Team").await;
    for n in 0..27 {
        ok(&app.gql(&format!("mutation {{ createTeam(name: \"team-{n}\") {{ id }} }}"), json!({}), Some(&root)).await);
    }
    let organization = app.text("SELECT id::text AS t FROM organizations WHERE is_default").await;
    let all =
        app.count(&format!("SELECT count(*) AS n FROM audit_events WHERE organization_id = '{organization}'")).await;
    assert!(all > 27, "{all} events");

    let browser = Browser::start().await;
    sign_in(&browser, &app, "root@example.com").await;
    browser.goto(&format!("{}/console/#/organization/audit", app.base)).await;
    browser.wait_for(&format!("main[data-page='organization-audit'] #audit[data-total='{all}'][data-page='1']")).await;
    let rows = "return document.querySelectorAll('#audit tbody tr').length";
    assert_eq!(browser.run(rows, vec![]).await, json!(25));
    // Older, then back to the newest.
    browser.click("#audit-older").await;
    browser.wait_for("#audit[data-page='2']").await;
    assert_eq!(browser.run(rows, vec![]).await, json!(all - 25));
    assert!(browser.wait_for("#audit-older").await.attr("disabled").await.unwrap().is_some(), "no older page");
    browser.click("#audit-newer").await;
    browser.wait_for("#audit[data-page='1']").await;

    // Filters: by action, then by workspace.
    browser.fill("#audit-filter input[name='action']", "team.create").await;
    browser.click("#audit-filter button[type='submit']").await;
    browser.wait_for("#audit[data-total='27']").await;
    picture(&browser, "organization-audit").await;
    browser.click("#audit-export").await;
    browser.wait_for("#audit-export-status[data-lines='27']").await;
    browser.fill("#audit-filter input[name='action']", "").await;
    choose(&browser, "#audit-filter select[name='workspaceUuid']", &workspace).await;
    browser.click("#audit-filter button[type='submit']").await;
    let in_workspace =
        app.count(&format!("SELECT count(*) AS n FROM audit_events WHERE workspace_id = '{workspace}'")).await;
    browser.wait_for(&format!("#audit[data-total='{in_workspace}'] tr[data-action='workspace.create']")).await;

    // A member: no audit log, no export.
    sign_out(&browser).await;
    sign_in(&browser, &app, "grace@example.com").await;
    browser.goto(&format!("{}/console/#/organization/audit", app.base)).await;
    browser.wait_for("main[data-page='organization-audit'] #audit-hidden").await;
    for hidden in ["#audit", "#audit-export", "#audit-filter"] {
        assert!(browser.client.find(fantoccini::Locator::Css(hidden)).await.is_err(), "{hidden} is not offered");
    }
    browser.close().await;
}

/// Problems an accessibility checker would call serious, found in the page as shown: form controls
/// without a label (or `aria-label`), buttons and links without a name, duplicate ids, references
/// (`for`, `aria-describedby`, `aria-labelledby`) to ids that do not exist, images without `alt`, a view
/// without a heading, a document without a language.
const ACCESSIBILITY_CHECK: &str = r#"
const problems = [];
const short = (el) => el.outerHTML.slice(0, 160);
// What is hidden is not in the accessibility tree (the header's account links while signed out).
const shown = (el) => !el.closest("[hidden]");
const named = (el) => {
  if ((el.getAttribute("aria-label") || "").trim()) return true;
  const by = el.getAttribute("aria-labelledby");
  if (by && by.split(/\s+/).some((id) => (document.getElementById(id)?.textContent || "").trim())) return true;
  return [...(el.labels || [])].some((label) => label.textContent.trim());
};
for (const el of document.querySelectorAll("input:not([type=hidden]), select, textarea")) {
  if (shown(el) && !named(el)) problems.push("a control without a label: " + short(el));
}
for (const el of document.querySelectorAll("button, a[href]")) {
  if (shown(el) && !(el.textContent.trim() || (el.getAttribute("aria-label") || "").trim())) problems.push("no name: " + short(el));
}
const seen = new Set();
for (const el of document.querySelectorAll("[id]")) {
  if (seen.has(el.id)) problems.push("duplicate id " + el.id);
  seen.add(el.id);
}
for (const el of document.querySelectorAll("label[for], [aria-describedby], [aria-labelledby]")) {
  for (const attribute of ["for", "aria-describedby", "aria-labelledby"]) {
    const ids = (el.getAttribute(attribute) || "").split(/\s+/).filter(Boolean);
    for (const id of ids) if (!document.getElementById(id)) problems.push(attribute + " names no element: " + short(el));
  }
}
for (const el of document.querySelectorAll("img:not([alt])")) problems.push("an image without alt: " + short(el));
if (!document.querySelector("main h1")) problems.push("no h1 in the view");
if (!document.documentElement.lang) problems.push("no lang on the document");
for (const el of document.querySelectorAll("[tabindex]")) {
  if (Number(el.getAttribute("tabindex")) > 0) problems.push("a positive tabindex: " + short(el));
}
return problems;
"#;

/// Opens `hash` in the console and waits until the view `page` is shown.
async fn open_view(browser: &Browser, hash: &str, page: &str) {
    browser
        .run(
            "document.getElementById('content').dataset.page = 'leaving'; location.hash = arguments[0];",
            vec![json!(hash)],
        )
        .await;
    browser.wait_for(&format!("main[data-page='{page}']:not([aria-busy])")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_view_is_labelled_works_from_the_keyboard_and_fits_a_desktop_and_a_phone() {
    let app = spawn(|config| config.public_signups = true).await;
    let root = app.with_owners().await;
    let workspace = app.create_workspace(&root, "Data Team").await;
    let etl = app.create_deployment(&root, &workspace, "etl").await["id"].as_str().unwrap().to_owned();
    let team = app.gql("mutation { createTeam(name: \"Analysts\") { id } }", json!({}), Some(&root)).await;
    let team = ok(&team)["createTeam"]["id"].as_str().unwrap().to_owned();
    let cluster =
        "mutation { createCluster(name: \"shared\", type: STANDARD, provider: \"aws\", region: \"eu-west-1\") { id } }";
    ok(&app.gql(cluster, json!({}), Some(&root)).await);

    let browser = Browser::start().await;
    // From the keyboard alone: type, Tab to the next field, Enter submits.
    browser.goto(&format!("{}/", app.base)).await;
    browser.wait_for("body[data-ready='true'] main[data-page='sign-in']").await;
    let signed_out = browser.run(ACCESSIBILITY_CHECK, vec![]).await;
    assert_eq!(signed_out, json!([]), "the sign-in page");
    browser.click("#identity").await;
    browser.wait_for("#identity").await.send_keys(&format!("root@example.com{}", '\u{E004}')).await.unwrap();
    let focused = browser.run("return document.activeElement.id", vec![]).await;
    assert_eq!(focused, "password", "Tab goes from the identity to the password");
    browser.wait_for("#password").await.send_keys(&format!("{PASSWORD}{}", '\u{E007}')).await.unwrap();
    browser.wait_for("main[data-page='dashboard']").await;
    // "Skip to content" moves the focus to the view and leaves the address (and so the view) alone.
    let skipped = browser
        .run("document.querySelector('a.skip').click(); return [document.activeElement.id, location.hash]", vec![])
        .await;
    assert_eq!(skipped, json!(["content", "#/"]));

    let views = [
        ("#/new-workspace", "dashboard"),
        ("#/", "dashboard"),
        ("#/account", "account"),
        ("#/organization/people", "organization-people"),
        ("#/organization/teams", "organization-teams"),
        (&format!("#/organization/teams/{team}") as &str, "organization-teams-one"),
        ("#/organization/clusters", "organization-clusters"),
        ("#/organization/audit", "organization-audit"),
        ("#/organization/keys", "organization-keys"),
        ("#/organization/sign-in", "organization-sign-in"),
        ("#/organization/settings", "organization-settings"),
        ("#/system/users", "system-users"),
        ("#/system/workspaces", "system-workspaces"),
        ("#/system/keys", "system-keys"),
        ("#/system/mail", "system-mail"),
        (&format!("#/workspaces/{workspace}/deployments"), "workspace-deployments"),
        (&format!("#/workspaces/{workspace}/users"), "workspace-users"),
        (&format!("#/workspaces/{workspace}/keys"), "workspace-keys"),
        (&format!("#/workspaces/{workspace}/settings"), "workspace-settings"),
        (&format!("#/deployments/{etl}/overview"), "deployment-overview"),
        (&format!("#/deployments/{etl}/settings"), "deployment-settings"),
        (&format!("#/deployments/{etl}/versions"), "deployment-versions"),
        (&format!("#/deployments/{etl}/variables"), "deployment-variables"),
        (&format!("#/deployments/{etl}/access"), "deployment-access"),
        (&format!("#/deployments/{etl}/keys"), "deployment-keys"),
    ];
    for (width, height) in [(1280, 800), (390, 844)] {
        browser.resize(width, height).await;
        for (hash, page) in &views {
            open_view(&browser, hash, page).await;
            let problems = browser.run(ACCESSIBILITY_CHECK, vec![]).await;
            assert_eq!(problems, json!([]), "{hash} at {width} px");
            assert!(!overflows(&browser).await, "{hash} scrolls sideways at {width} px");
            if width < 500 && *page == "organization-teams-one" {
                picture(&browser, "team-phone").await;
            }
        }
    }

    // The signed-out pages, at phone width too.
    sign_out(&browser).await;
    for (hash, page) in [("#/forgot-password", "forgot-password"), ("#/reset-password?token=ccr_x", "reset-password")] {
        open_view(&browser, hash, page).await;
        assert_eq!(browser.run(ACCESSIBILITY_CHECK, vec![]).await, json!([]), "{hash}");
        assert!(!overflows(&browser).await, "{hash} scrolls sideways at phone width");
    }
    browser.close().await;
}
