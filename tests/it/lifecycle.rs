//! Ephemeral deployments and hibernation schedules (docs/ephemeral-deployments.md, docs/hibernation.md):
//! the arguments and their validation over HTTP, the sweep applying what falls due (driven by the test
//! clock and `capcom::sweeper::sweep_once`, never by waiting), and two servers sweeping one database
//! applying each expiry and each transition exactly once.

use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, Offset, TimeZone, Utc};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::common::{TestApp, error_code};

const FIELDS: &str = "id status expiresAt isDevelopmentMode hibernateAtCron wakeAtCron hibernationTimeZone \
                      hibernateUntil awakeUntil isHibernating nextTransition { at to }";

fn field(body: &Value) -> &str {
    body["errors"][0]["extensions"]["field"].as_str().unwrap_or_else(|| panic!("no field: {body}"))
}

fn time(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().unwrap_or_else(|| panic!("not a time: {value}")))
        .unwrap()
        .with_timezone(&Utc)
}

/// Moves `app`'s clock to `target` plus 30 seconds, so that the minute `target` names holds while the
/// test runs (the test clock keeps running with real time).
fn move_to(app: &TestApp, target: DateTime<Utc>) {
    let now = app.state.clock.now();
    app.clock.advance(target + chrono::Duration::seconds(30) - now);
}

/// Tomorrow (of the real clock) at `hour`:00 UTC.
fn tomorrow_at(hour: u32) -> DateTime<Utc> {
    let tomorrow = Utc::now() + chrono::Duration::days(1);
    Utc.with_ymd_and_hms(tomorrow.year(), tomorrow.month(), tomorrow.day(), hour, 0, 0).unwrap()
}

async fn create(app: &TestApp, token: &str, workspace: &str, label: &str, extra: &str) -> Value {
    app.gql(
        &format!(
            "mutation($w: Uuid!, $l: String!) {{ createDeployment(workspaceUuid: $w, label: $l{extra}) {{ {FIELDS} }} }}"
        ),
        json!({"w": workspace, "l": label}),
        Some(token),
    )
    .await
}

async fn sweep(app: &TestApp) -> capcom::sweeper::SweepReport {
    capcom::sweeper::sweep_once(&app.state).await.expect("sweep")
}

async fn audit_count(app: &TestApp, deployment: &str, action: &str) -> i64 {
    app.count(&format!(
        "SELECT count(*) AS n FROM audit_events WHERE deployment_id = '{deployment}' AND action = '{action}' \
         AND actor_user_id IS NULL AND actor_service_account_id IS NULL AND actor_label = 'system'"
    ))
    .await
}

#[tokio::test]
async fn an_ephemeral_deployment_deletes_itself_once_it_expires() {
    let app = TestApp::spawn().await;
    let (token, _) = app.sign_up("root@example.com", "correct horse battery").await;
    let workspace = app.create_workspace(&token, "CI").await;
    let body = create(&app, &token, &workspace, "pr-1", ", ttlHours: 2").await;
    assert!(body.get("errors").is_none(), "{body}");
    let deployment = body["data"]["createDeployment"]["id"].as_str().unwrap().to_owned();
    let expires_at = time(&body["data"]["createDeployment"]["expiresAt"]);
    let expected = app.state.clock.now() + chrono::Duration::hours(2);
    assert!((expires_at - expected).num_seconds().abs() < 60, "{expires_at} ≈ {expected}");
    let permanent = create(&app, &token, &workspace, "main", "").await;
    assert!(permanent["data"]["createDeployment"]["expiresAt"].is_null(), "{permanent}");
    assert_eq!(app.metric("capcom_deployments_pending_expiry").await, 1.0);

    // Not yet due: the sweep leaves it.
    assert_eq!(sweep(&app).await, capcom::sweeper::SweepReport::default());
    app.clock.advance(chrono::Duration::minutes(119));
    assert!(sweep(&app).await.expired.is_empty());

    app.clock.advance(chrono::Duration::minutes(2));
    let report = sweep(&app).await;
    assert_eq!(report.expired, vec![deployment.parse::<uuid::Uuid>().unwrap()]);
    let list = app.gql("{ deployments { id } }", json!({}), Some(&token)).await;
    let ids: Vec<&str> =
        list["data"]["deployments"].as_array().unwrap().iter().filter_map(|d| d["id"].as_str()).collect();
    assert!(!ids.contains(&deployment.as_str()) && ids.len() == 1, "{list}");
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM deployments WHERE id = '{deployment}' AND deleted_at IS NOT NULL"
        ))
        .await,
        1,
        "soft-deleted, as deleteDeployment does"
    );
    assert_eq!(audit_count(&app, &deployment, "deployment.expire").await, 1);
    // A later sweep (or a restart) finds nothing more to do.
    assert_eq!(sweep(&app).await, capcom::sweeper::SweepReport::default());
    assert_eq!(audit_count(&app, &deployment, "deployment.expire").await, 1);
    assert_eq!(app.metric("capcom_deployments_pending_expiry").await, 0.0);
    assert!(app.metric("capcom_deployment_lifecycle_total{event=\"expired\"}").await >= 1.0);
}

#[tokio::test]
async fn expiry_arguments_are_validated_and_can_be_moved_or_removed() {
    let app = TestApp::spawn_with(|config| config.public_signups = true).await;
    let root = app.with_owners().await;
    let workspace = app.create_workspace(&root, "CI").await;
    let past = (app.state.clock.now() - chrono::Duration::minutes(1)).to_rfc3339();
    let soon = (app.state.clock.now() + chrono::Duration::hours(3)).to_rfc3339();
    let too_far = (app.state.clock.now() + chrono::Duration::hours(721)).to_rfc3339();
    for (extra, expected) in [
        (format!(", ttlHours: 2, expiresAt: \"{soon}\""), "ttlHours"),
        (", ttlHours: 0".to_owned(), "ttlHours"),
        (", ttlHours: 721".to_owned(), "ttlHours"),
        (format!(", expiresAt: \"{past}\""), "expiresAt"),
        (format!(", expiresAt: \"{too_far}\""), "expiresAt"),
    ] {
        let body = create(&app, &root, &workspace, "refused", &extra).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{extra}: {body}");
        assert_eq!(field(&body), expected, "{extra}");
    }
    assert_eq!(app.count("SELECT count(*) AS n FROM deployments WHERE label = 'refused'").await, 0);

    let body = create(&app, &root, &workspace, "pr-2", &format!(", expiresAt: \"{soon}\"")).await;
    let deployment = body["data"]["createDeployment"]["id"].as_str().unwrap().to_owned();
    let set = async |extra: &str| {
        let query =
            format!("mutation($d: Uuid!) {{ updateDeploymentExpiry(deploymentUuid: $d{extra}) {{ expiresAt }} }}");
        app.gql(&query, json!({"d": deployment}), Some(&root)).await
    };
    let extended = set(", ttlHours: 48").await;
    let expires_at = time(&extended["data"]["updateDeploymentExpiry"]["expiresAt"]);
    assert!(expires_at > app.state.clock.now() + chrono::Duration::hours(47), "{extended}");
    let refused = set(", ttlHours: 1000").await;
    assert_eq!((error_code(&refused), field(&refused)), ("BAD_USER_INPUT", "ttlHours"));

    // A workspace viewer may not move it, and the refusal changes nothing.
    let (viewer, _) = app.sign_up("viewer@example.com", "correct horse battery").await;
    assert!(
        app.add_to_workspace(&root, &workspace, "viewer@example.com", "WORKSPACE_VIEWER").await.get("errors").is_none()
    );
    let before = app.deployment_snapshot().await;
    let denied = app
        .gql(
            "mutation($d: Uuid!) { updateDeploymentExpiry(deploymentUuid: $d) { id } }",
            json!({"d": deployment}),
            Some(&viewer),
        )
        .await;
    assert_eq!(error_code(&denied), "FORBIDDEN", "{denied}");
    assert_eq!(app.deployment_snapshot().await, before);

    // Neither argument: permanent again, so no sweep deletes it.
    let cleared = set("").await;
    assert!(cleared["data"]["updateDeploymentExpiry"]["expiresAt"].is_null(), "{cleared}");
    assert_eq!(
        app.count(&format!("SELECT count(*) AS n FROM audit_events WHERE deployment_id = '{deployment}' AND action = 'deployment.expiry.update'")).await,
        2
    );
    app.clock.advance(chrono::Duration::days(40));
    assert!(sweep(&app).await.expired.is_empty());
    assert_eq!(
        app.count(&format!("SELECT count(*) AS n FROM deployments WHERE id = '{deployment}' AND deleted_at IS NULL"))
            .await,
        1
    );
}

/// An expiry is a deletion scheduled (docs/ephemeral-deployments.md): a workspace editor, who may update
/// a deployment but not delete it, may put an expiry off or remove it, but may not give a permanent
/// deployment one nor bring one forward (else a minute-ahead expiry would delete it); each refusal
/// changes nothing. The workspace admin may do both.
#[tokio::test]
async fn only_who_may_delete_a_deployment_may_give_it_an_expiry_or_bring_one_forward() {
    let app = TestApp::spawn_with(|config| config.public_signups = true).await;
    let root = app.with_owners().await;
    let workspace = app.create_workspace(&root, "CI").await;
    let (editor, _) = app.sign_up("editor@example.com", "correct horse battery").await;
    assert!(
        app.add_to_workspace(&root, &workspace, "editor@example.com", "WORKSPACE_EDITOR").await.get("errors").is_none()
    );
    let permanent = create(&app, &root, &workspace, "main", "").await["data"]["createDeployment"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let preview = create(&app, &root, &workspace, "pr-3", ", ttlHours: 24").await["data"]["createDeployment"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let set = async |token: &str, deployment: &str, extra: &str| {
        let query =
            format!("mutation($d: Uuid!) {{ updateDeploymentExpiry(deploymentUuid: $d{extra}) {{ expiresAt }} }}");
        app.gql(&query, json!({"d": deployment}), Some(token)).await
    };
    let soon = (app.state.clock.now() + chrono::Duration::minutes(1)).to_rfc3339();
    let before = app.deployment_snapshot().await;
    for (deployment, extra) in [
        (&permanent, ", ttlHours: 1".to_owned()),
        (&permanent, format!(", expiresAt: \"{soon}\"")),
        (&preview, ", ttlHours: 2".to_owned()),
        (&preview, format!(", expiresAt: \"{soon}\"")),
    ] {
        let body = set(&editor, deployment, &extra).await;
        assert_eq!(error_code(&body), "FORBIDDEN", "{extra}: {body}");
    }
    assert_eq!(app.deployment_snapshot().await, before, "refusals change nothing");
    // Putting the preview's expiry off, then keeping it, deletes nothing: the editor may.
    let later = set(&editor, &preview, ", ttlHours: 48").await;
    assert!(
        time(&later["data"]["updateDeploymentExpiry"]["expiresAt"])
            > app.state.clock.now() + chrono::Duration::hours(47)
    );
    let kept = set(&editor, &preview, "").await;
    assert!(kept["data"]["updateDeploymentExpiry"]["expiresAt"].is_null(), "{kept}");
    // The admin (the creator) may give the permanent one an expiry.
    let given = set(&root, &permanent, ", ttlHours: 1").await;
    assert!(given["data"]["updateDeploymentExpiry"]["expiresAt"].is_string(), "{given}");
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn subscribe(app: &TestApp, token: &str, deployment: &str) -> Socket {
    let mut request = format!("{}/ws", app.base.replace("http://", "ws://")).into_client_request().unwrap();
    request.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let send = |value: Value| Message::Text(value.to_string().into());
    socket.send(send(json!({"type": "connection_init", "payload": {"authorization": token}}))).await.unwrap();
    assert_eq!(next_message(&mut socket).await["type"], "connection_ack");
    socket
        .send(send(json!({"id": "1", "type": "subscribe", "payload": {
            "query": "subscription($d: Uuid) { deploymentStatus(deploymentUuid: $d) { id status isHibernating workerMax } }",
            "variables": {"d": deployment}
        }})))
        .await
        .unwrap();
    assert_eq!(next_message(&mut socket).await["type"], "next", "the current state first");
    socket
}

/// The next protocol message (pings answered), waiting at most 20 s.
async fn next_message(socket: &mut Socket) -> Value {
    let wait = async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Text(text))) => {
                    let message: Value = serde_json::from_str(&text).unwrap();
                    if message["type"] == "ping" {
                        socket.send(Message::Text(json!({"type": "pong"}).to_string().into())).await.unwrap();
                        continue;
                    }
                    return message;
                }
                Some(Ok(_)) => continue,
                other => panic!("socket ended: {other:?}"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), wait).await.expect("a message within 20 s")
}

/// Waits (at most 30 s, polling) until `probe` returns `want`.
async fn until(app: &TestApp, probe: &str, want: i64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if app.count(probe).await == want {
            return;
        }
        assert!(Instant::now() < deadline, "{probe} never reached {want}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_sweeping_one_database_expire_each_deployment_once() {
    let a = TestApp::spawn_with(|config| config.sweep_interval_ms = 5).await;
    let b = TestApp::spawn_on((*a.state.config).clone(), a.db_url.clone()).await;
    let (token, _) = a.sign_up("root@example.com", "correct horse battery").await;
    let workspace = a.create_workspace(&token, "CI").await;
    let mut ids = Vec::new();
    for n in 0..6 {
        let body = create(&a, &token, &workspace, &format!("pr-{n}"), ", ttlHours: 1").await;
        ids.push(body["data"]["createDeployment"]["id"].as_str().unwrap().to_owned());
    }
    let mut watcher = subscribe(&b, &token, &ids[0]).await;
    // Both sweep continuously, each on its own clock; the deployments fall due when the clocks move.
    let sweepers = [capcom::sweeper::start(a.state.clone()).unwrap(), capcom::sweeper::start(b.state.clone()).unwrap()];
    for app in [&a, &b] {
        app.clock.advance(chrono::Duration::hours(2));
    }
    // And explicit sweeps race with them.
    let (x, y) = tokio::join!(sweep(&a), sweep(&b));
    let mut swept: Vec<uuid::Uuid> = x.expired.into_iter().chain(y.expired).collect();
    let unique = swept.len();
    swept.sort();
    swept.dedup();
    assert_eq!(unique, swept.len(), "no deployment expired twice in the explicit sweeps");
    until(
        &a,
        &format!("SELECT count(*) AS n FROM deployments WHERE workspace_id = '{workspace}' AND deleted_at IS NOT NULL"),
        6,
    )
    .await;
    drop(sweepers);
    for id in &ids {
        assert_eq!(audit_count(&a, id, "deployment.expire").await, 1, "{id}");
    }
    assert_eq!(next_message(&mut watcher).await["type"], "complete", "the subscriber sees the deletion end the stream");

    // A server started afterwards (a restart) finds nothing left to do.
    let c = TestApp::spawn_on((*a.state.config).clone(), a.db_url.clone()).await;
    c.clock.advance(chrono::Duration::hours(2));
    assert_eq!(sweep(&c).await, capcom::sweeper::SweepReport::default());
}

async fn set_hibernation(app: &TestApp, token: &str, deployment: &str, arguments: &str) -> Value {
    app.gql(
        &format!("mutation($d: Uuid!) {{ updateDeploymentHibernation(deploymentUuid: $d{arguments}) {{ {FIELDS} }} }}"),
        json!({"d": deployment}),
        Some(token),
    )
    .await
}

#[tokio::test]
async fn hibernation_settings_are_validated_and_only_development_deployments_hibernate() {
    let app = TestApp::spawn().await;
    let (token, _) = app.sign_up("root@example.com", "correct horse battery").await;
    let workspace = app.create_workspace(&token, "Dev").await;
    let production = create(&app, &token, &workspace, "prod", "").await["data"]["createDeployment"].clone();
    assert_eq!(production["isDevelopmentMode"], false);
    let production = production["id"].as_str().unwrap().to_owned();
    let dev =
        create(&app, &token, &workspace, "dev", ", isDevelopmentMode: true").await["data"]["createDeployment"].clone();
    assert_eq!(dev["isDevelopmentMode"], true);
    assert_eq!(dev["isHibernating"], false);
    assert!(dev["nextTransition"].is_null());
    let dev = dev["id"].as_str().unwrap().to_owned();
    let soon = (app.state.clock.now() + chrono::Duration::hours(1)).to_rfc3339();
    let past = (app.state.clock.now() - chrono::Duration::hours(1)).to_rfc3339();

    let before = app.deployment_snapshot().await;
    for (deployment, arguments, expected) in [
        (&production, "hibernateAtCron: \"0 20 * * *\", wakeAtCron: \"0 8 * * *\"".to_owned(), "hibernateAtCron"),
        (&production, format!("hibernateUntil: \"{soon}\""), "hibernateUntil"),
        (&dev, "hibernateAtCron: \"0 25 * * *\", wakeAtCron: \"0 8 * * *\"".to_owned(), "hibernateAtCron"),
        (&dev, "hibernateAtCron: \"0 20 * * *\", wakeAtCron: \"every morning\"".to_owned(), "wakeAtCron"),
        (&dev, "hibernateAtCron: \"0 20 * * *\"".to_owned(), "wakeAtCron"),
        (
            &dev,
            "hibernateAtCron: \"0 20 * * *\", wakeAtCron: \"0 8 * * *\", hibernationTimeZone: \"Mars/Olympus\""
                .to_owned(),
            "hibernationTimeZone",
        ),
        (&dev, format!("hibernateUntil: \"{past}\""), "hibernateUntil"),
        (&dev, format!("hibernateUntil: \"{soon}\", awakeUntil: \"{soon}\""), "awakeUntil"),
    ] {
        let body = set_hibernation(&app, &token, deployment, &format!(", {arguments}")).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{arguments}: {body}");
        assert_eq!(field(&body), expected, "{arguments}");
    }
    assert_eq!(app.deployment_snapshot().await, before, "refusals change nothing");

    // Clearing is allowed everywhere (a no-op on a production deployment).
    let cleared = set_hibernation(&app, &token, &production, "").await;
    assert!(cleared.get("errors").is_none(), "{cleared}");
    // An override alone: it hibernates at once, and wakes when the override ends.
    let body = set_hibernation(&app, &token, &dev, &format!(", hibernateUntil: \"{soon}\"")).await;
    let answer = &body["data"]["updateDeploymentHibernation"];
    assert_eq!(
        (answer["isHibernating"].clone(), answer["status"].clone()),
        (json!(true), json!("HIBERNATING")),
        "{body}"
    );
    assert_eq!(answer["nextTransition"]["to"], "AWAKE");
    // The database keeps microseconds.
    assert!((time(&answer["nextTransition"]["at"]) - time(&json!(soon))).num_milliseconds().abs() < 1, "{body}");
    app.clock.advance(chrono::Duration::minutes(61));
    assert_eq!(sweep(&app).await.transitions, vec![(dev.parse().unwrap(), false)]);
    let now =
        app.gql(&format!("{{ deployment(where: {{id: \"{dev}\"}}) {{ {FIELDS} }} }}"), json!({}), Some(&token)).await;
    assert_eq!(now["data"]["deployment"]["isHibernating"], false, "{now}");
    assert_eq!(now["data"]["deployment"]["status"], "HEALTHY");
    assert!(now["data"]["deployment"]["hibernateUntil"].is_null(), "an ended override is cleared: {now}");
    assert_eq!(audit_count(&app, &dev, "deployment.wake").await, 1);
}

#[tokio::test]
async fn a_schedule_in_a_time_zone_hibernates_and_wakes_with_overrides_in_between() {
    // The test clock moves days ahead; the watcher's token must outlive that.
    let app = TestApp::spawn_with(|config| config.jwt_lifetime_secs = 30 * 86_400).await;
    let (token, _) = app.sign_up("root@example.com", "correct horse battery").await;
    let workspace = app.create_workspace(&token, "Dev").await;
    let dev =
        create(&app, &token, &workspace, "dev", ", isDevelopmentMode: true").await["data"]["createDeployment"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
    let noon = tomorrow_at(12);
    move_to(&app, noon);
    // 21:00 and 07:00 in Berlin are 20:00 and 06:00 UTC (CET, UTC+1) in winter, 19:00 and 05:00 in summer.
    let offset =
        i64::from(chrono_tz::Europe::Berlin.offset_from_utc_datetime(&noon.naive_utc()).fix().local_minus_utc() / 3600);
    let schedule =
        ", hibernateAtCron: \"0 21 * * *\", wakeAtCron: \"0 7 * * *\", hibernationTimeZone: \"Europe/Berlin\"";
    let body = set_hibernation(&app, &token, &dev, schedule).await;
    let answer = &body["data"]["updateDeploymentHibernation"];
    assert_eq!(answer["isHibernating"], false, "{body}");
    assert_eq!(answer["hibernationTimeZone"], "Europe/Berlin");
    let evening = noon + chrono::Duration::hours(21 - 12 - offset);
    assert_eq!(time(&answer["nextTransition"]["at"]), evening);
    assert_eq!(answer["nextTransition"]["to"], "HIBERNATING");
    assert!(sweep(&app).await.transitions.is_empty(), "nothing due at noon");

    let mut watcher = subscribe(&app, &token, &dev).await;
    move_to(&app, evening);
    assert_eq!(sweep(&app).await.transitions, vec![(dev.parse().unwrap(), true)]);
    let pushed = next_message(&mut watcher).await;
    assert_eq!(pushed["payload"]["data"]["deploymentStatus"]["status"], "HIBERNATING", "{pushed}");
    assert_eq!(pushed["payload"]["data"]["deploymentStatus"]["isHibernating"], true);
    assert!(sweep(&app).await.transitions.is_empty(), "the transition is made once");
    assert_eq!(audit_count(&app, &dev, "deployment.hibernate").await, 1);
    assert_eq!(app.metric("capcom_deployments_hibernating").await, 1.0);

    // Awake until an hour later, whatever the schedule says; then asleep again.
    let later = evening + chrono::Duration::hours(1);
    let body =
        set_hibernation(&app, &token, &dev, &format!("{schedule}, awakeUntil: \"{}\"", later.to_rfc3339())).await;
    let answer = &body["data"]["updateDeploymentHibernation"];
    assert_eq!((answer["isHibernating"].clone(), answer["status"].clone()), (json!(false), json!("HEALTHY")), "{body}");
    assert_eq!(time(&answer["nextTransition"]["at"]), later);
    assert_eq!(next_message(&mut watcher).await["payload"]["data"]["deploymentStatus"]["isHibernating"], false);
    move_to(&app, later);
    assert_eq!(sweep(&app).await.transitions, vec![(dev.parse().unwrap(), true)]);
    assert_eq!(next_message(&mut watcher).await["payload"]["data"]["deploymentStatus"]["isHibernating"], true);

    // 07:00 Berlin the next morning: awake.
    move_to(&app, noon + chrono::Duration::hours(24 + 7 - 12 - offset));
    assert_eq!(sweep(&app).await.transitions, vec![(dev.parse().unwrap(), false)]);
    let woke = next_message(&mut watcher).await;
    assert_eq!(woke["payload"]["data"]["deploymentStatus"]["status"], "HEALTHY", "{woke}");
    assert_eq!(audit_count(&app, &dev, "deployment.wake").await, 1);
    assert_eq!(audit_count(&app, &dev, "deployment.hibernate").await, 2);

    // Clearing the settings wakes it and leaves nothing due.
    let cleared = set_hibernation(&app, &token, &dev, "").await;
    assert!(cleared["data"]["updateDeploymentHibernation"]["nextTransition"].is_null(), "{cleared}");
    app.clock.advance(chrono::Duration::days(3));
    assert!(sweep(&app).await.transitions.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_sweeping_one_database_make_each_transition_once() {
    let a = TestApp::spawn_with(|config| config.sweep_interval_ms = 5).await;
    let b = TestApp::spawn_on((*a.state.config).clone(), a.db_url.clone()).await;
    // The clocks move first, so that the token is issued at noon and is still valid eight hours later
    // whatever the time of day the test runs at.
    let noon = tomorrow_at(12);
    for app in [&a, &b] {
        move_to(app, noon);
    }
    let (token, _) = a.sign_up("root@example.com", "correct horse battery").await;
    let workspace = a.create_workspace(&token, "Dev").await;
    let mut ids = Vec::new();
    for n in 0..4 {
        let body = create(&a, &token, &workspace, &format!("dev-{n}"), ", isDevelopmentMode: true").await;
        let id = body["data"]["createDeployment"]["id"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned();
        let set =
            set_hibernation(&a, &token, &id, ", hibernateAtCron: \"0 20 * * *\", wakeAtCron: \"0 8 * * *\"").await;
        assert_eq!(set["data"]["updateDeploymentHibernation"]["isHibernating"], false, "{set}");
        ids.push(id);
    }
    let mut watcher = subscribe(&b, &token, &ids[0]).await;
    let sweepers = [capcom::sweeper::start(a.state.clone()).unwrap(), capcom::sweeper::start(b.state.clone()).unwrap()];
    for app in [&a, &b] {
        move_to(app, noon + chrono::Duration::hours(8));
    }
    let (x, y) = tokio::join!(sweep(&a), sweep(&b));
    let mut made: Vec<uuid::Uuid> = x.transitions.iter().chain(&y.transitions).map(|(id, _)| *id).collect();
    let total = made.len();
    made.sort();
    made.dedup();
    assert_eq!(total, made.len(), "no transition made twice in the explicit sweeps");
    until(
        &a,
        &format!("SELECT count(*) AS n FROM deployments WHERE workspace_id = '{workspace}' AND is_hibernating"),
        4,
    )
    .await;
    drop(sweepers);
    for id in &ids {
        assert_eq!(audit_count(&a, id, "deployment.hibernate").await, 1, "{id}");
    }
    // One event for the transition, and the next one is the next change, not a repeat.
    let pushed = next_message(&mut watcher).await;
    assert_eq!(pushed["payload"]["data"]["deploymentStatus"]["status"], "HIBERNATING", "{pushed}");
    let update = a
        .gql(
            "mutation($d: Uuid!) { updateDeployment(deploymentUuid: $d, settings: {workerMax: 13}) { id } }",
            json!({"d": ids[0]}),
            Some(&token),
        )
        .await;
    assert!(update.get("errors").is_none(), "{update}");
    let next = next_message(&mut watcher).await;
    assert_eq!(next["payload"]["data"]["deploymentStatus"]["workerMax"], 13, "no second transition event: {next}");
}
