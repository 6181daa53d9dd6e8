//! A request's cost is bounded by what it returns, and dear work comes after cheap checks (SPEC §7):
//! at most one password hash per request, however many aliases or batched operations ask for one.

use serde_json::{Value, json};

use crate::common::{TestApp, error_code};

/// `capcom_password_hashes_total` as `/metrics` shows it.
async fn hashes(app: &TestApp) -> u64 {
    app.metric("capcom_password_hashes_total").await as u64
}

/// Posts `body` (one operation or a batch) and returns the parsed reply.
async fn post(app: &TestApp, body: &Value) -> Value {
    let response = app.client.post(format!("{}/v1", app.base)).json(body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// A document of `aliases` aliased `createUser`s, each for its own address in `batch`.
fn sign_ups(batch: usize, aliases: usize, invite_token: Option<&str>) -> String {
    let token = invite_token.map(|token| format!(", inviteToken: \"{token}\"")).unwrap_or_default();
    let fields: Vec<String> = (0..aliases)
        .map(|n| {
            format!(
                "a{n}: createUser(email: \"b{batch}-a{n}@example.com\", password: \"correct horse battery\"{token}) {{ user {{ id }} }}"
            )
        })
        .collect();
    format!("mutation {{ {} }}", fields.join(" "))
}

/// Every error of every operation of a batch reply.
fn errors(reply: &Value) -> Vec<&Value> {
    reply.as_array().unwrap().iter().flat_map(|item| item["errors"].as_array().unwrap().iter()).collect()
}

/// The amplification of issue 22: public sign-ups off, `createUser(…, inviteToken: "garbage")` × 20
/// aliases × 10 batched operations, anonymously (19 KB). The first sign-up is refused on its invite token
/// (one lookup, no hash); the 199 others are refused before any statement, naming the one-check rule.
#[tokio::test]
async fn garbage_invite_tokens_in_aliases_and_batches_cost_no_password_hash() {
    let app = TestApp::spawn_with(|config| config.login_max_failures_per_address = 100_000).await;
    let (root, _) = app.sign_up("root@example.com", "correct horse battery").await;
    let before = hashes(&app).await;
    let batch = Value::Array((0..10).map(|b| json!({"query": sign_ups(b, 20, Some("garbage"))})).collect());
    let statements = || app.state.statements.load(std::sync::atomic::Ordering::SeqCst);
    let statements_before = statements();
    let started = std::time::Instant::now();
    let reply = post(&app, &batch).await;
    let elapsed = started.elapsed();
    let spent = statements() - statements_before;
    let refused = errors(&reply);
    assert_eq!(refused.len(), 200, "{reply}");
    assert_eq!(refused[0]["extensions"]["code"], "BAD_USER_INPUT", "{reply}");
    assert_eq!(refused[0]["extensions"]["field"], "inviteToken", "the first is refused on its token: {reply}");
    for error in &refused[1..] {
        assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{error}");
        assert_eq!(error["extensions"]["field"], "password", "{error}");
        assert!(error["message"].as_str().unwrap().starts_with("Only one password may be checked per request"));
    }
    assert_eq!(hashes(&app).await, before, "an invite token that matches nothing is refused before hashing");
    // The first sign-up's throttle and token lookup; nothing per alias (200 aliases used to cost 200 of each).
    assert!(spent <= 5, "{spent} statements for one request of 200 refused sign-ups");
    assert_eq!(app.count("SELECT count(*) AS n FROM users").await, 1);
    // Informative only (no timing assertion): before, 200 hashes took tens of seconds in a debug build.
    eprintln!("200 refused sign-ups answered in {elapsed:?}, {spent} statements");

    // Sixteen such requests at once, and a signed-in read among them: all answered, still no hash.
    let flood = (0..16).map(|_| post(&app, &batch));
    let read = app.gql("{ self { id } }", json!({}), Some(&root));
    let (replies, read) = futures_util::future::join(futures_util::future::join_all(flood), read).await;
    assert!(read["data"]["self"]["id"].is_string(), "{read}");
    for reply in &replies {
        assert_eq!(errors(reply).len(), 200, "{reply}");
    }
    assert_eq!(hashes(&app).await, before);
}

/// argon2id's default working memory, m = 19 456 KiB (RFC 9106's second recommended option, OWASP's
/// minimum), which capcom hashes with (docs/limits.md).
const HASH_AREA_BYTES: u64 = 19_456 * 1024;

/// Sign-ins hold at most one working area per hashing thread while they run, and none once they are over
/// (docs/operations.md, "Passwords"): the threads used to keep theirs for as long as capcom ran.
#[tokio::test]
async fn password_hashes_hold_an_area_per_thread_at_most_and_none_after_the_sign_ins() {
    let app = TestApp::spawn_with(|config| {
        config.login_max_failures_per_address = 100_000;
        config.password_hashing_concurrency = Some(2);
    })
    .await;
    assert_eq!(app.metric("capcom_password_hashing_memory_bytes").await as u64, 0, "nothing hashed yet");
    // Sixteen sign-ins with unknown identities at once (each hashes against the decoy), scraped meanwhile.
    let before = hashes(&app).await;
    let app = &app;
    let sign_ins = (0..16).map(|n| {
        let query = format!(
            "mutation {{ createToken(identity: \"nobody-{n}@example.com\", password: \"wrong password\") {{ token {{ value }} }} }}"
        );
        async move { app.gql(&query, json!({}), None).await }
    });
    // Scraped over and over while the sign-ins run: 16 hashes on two threads take at least eight hashes'
    // time, during which an area is held at every moment.
    let done = std::sync::atomic::AtomicBool::new(false);
    let sign_ins = async {
        let replies = futures_util::future::join_all(sign_ins).await;
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        replies
    };
    let scrapes = async {
        let mut seen = Vec::new();
        while !done.load(std::sync::atomic::Ordering::SeqCst) {
            seen.push(app.metric("capcom_password_hashing_memory_bytes").await as u64);
        }
        seen
    };
    let (replies, seen) = futures_util::future::join(sign_ins, scrapes).await;
    for reply in &replies {
        assert_eq!(error_code(reply), "UNAUTHENTICATED", "{reply}");
    }
    assert_eq!(hashes(app).await - before, 16);
    let most = seen.iter().copied().max().unwrap_or(0);
    assert!(most >= HASH_AREA_BYTES, "no scrape saw an area while the sign-ins ran: {seen:?}");
    assert!(most <= 2 * HASH_AREA_BYTES, "{most} bytes held by two hashing threads");
    // Freed soon after (a quarter to half a second): polled, at most 10 s.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut held = app.metric("capcom_password_hashing_memory_bytes").await as u64;
    while held > 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        held = app.metric("capcom_password_hashing_memory_bytes").await as u64;
    }
    assert_eq!(held, 0, "the hashes' working memory is still held after the sign-ins");
}

#[tokio::test]
async fn a_request_causes_at_most_one_password_hash() {
    let app = TestApp::spawn_with(|config| {
        config.public_signups = true;
        config.login_max_failures_per_address = 100_000;
    })
    .await;
    app.sign_up("root@example.com", "correct horse battery").await;

    // Sign-ups: 10 operations of 20 aliases, each for a new address.
    let before = hashes(&app).await;
    let batch: Vec<Value> = (0..10).map(|b| json!({"query": sign_ups(b, 20, None)})).collect();
    let reply = post(&app, &Value::Array(batch)).await;
    assert_eq!(hashes(&app).await, before + 1, "one hash for the whole request");
    let created = reply
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|item| item["data"].as_object().into_iter().flat_map(|data| data.values()))
        .filter(|value| value["user"]["id"].is_string())
        .count();
    assert_eq!(created, 1, "{reply}");
    let refused = errors(&reply);
    assert_eq!(refused.len(), 199);
    for error in refused {
        assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{error}");
        assert_eq!(error["extensions"]["field"], "password", "{error}");
        assert!(error["message"].as_str().unwrap().starts_with("Only one password may be checked per request"));
    }
    assert_eq!(app.count("SELECT count(*) AS n FROM users").await, 2);

    // Sign-ins: the same, with wrong passwords for the root account.
    let before = hashes(&app).await;
    let sign_ins: Vec<String> = (0..20)
        .map(|n| {
            format!(
                "a{n}: createToken(identity: \"root@example.com\", password: \"wrong {n}\") {{ token {{ value }} }}"
            )
        })
        .collect();
    let document = format!("mutation {{ {} }}", sign_ins.join(" "));
    let batch: Vec<Value> = (0..10).map(|_| json!({"query": document})).collect();
    let reply = post(&app, &Value::Array(batch)).await;
    assert_eq!(hashes(&app).await, before + 1, "{reply}");
    for error in errors(&reply) {
        assert!(["UNAUTHENTICATED", "BAD_USER_INPUT"].contains(&error["extensions"]["code"].as_str().unwrap()));
    }

    // One sign-up or sign-in per request still works, with or without an invite.
    let before = hashes(&app).await;
    app.sign_up("grace@example.com", "correct horse battery").await;
    let body = app.sign_in("grace@example.com", "correct horse battery").await;
    assert!(body["data"]["createToken"]["token"]["value"].is_string(), "{body}");
    assert_eq!(hashes(&app).await, before + 2);
}

#[tokio::test]
async fn an_invited_sign_up_still_works_and_failed_sign_ups_are_throttled_per_address() {
    let app = TestApp::spawn_with(|config| config.login_max_failures_per_address = 5).await;
    let (root, _) = app.sign_up("root@example.com", "correct horse battery").await;
    let workspace = app.create_workspace(&root, "Invited").await;
    app.add_to_workspace(&root, &workspace, "grace@example.com", "WORKSPACE_EDITOR").await;
    let outbox = app.gql("{ mailOutbox { recipient body } }", json!({}), Some(&root)).await;
    let mail = outbox["data"]["mailOutbox"][0]["body"].as_str().unwrap();
    let token = mail.split_whitespace().find(|w| w.starts_with("cci_")).expect("token in the mail").to_owned();

    let before = hashes(&app).await;
    let body = app
        .gql(
            "mutation($t: String!) { createUser(email: \"grace@example.com\", password: \"correct horse\", inviteToken: $t) { token { value } } }",
            json!({"t": token}),
            None,
        )
        .await;
    assert!(body["data"]["createUser"]["token"]["value"].is_string(), "{body}");
    assert_eq!(hashes(&app).await, before + 1);

    // Five refused sign-ups from this address; the sixth is refused before its token is even looked at.
    let before = hashes(&app).await;
    for n in 0..5 {
        let reply = post(&app, &json!({"query": sign_ups(n, 1, Some("garbage"))})).await;
        assert_eq!(reply["errors"][0]["extensions"]["field"], "inviteToken", "{reply}");
    }
    let reply = post(&app, &json!({"query": sign_ups(9, 1, Some("garbage"))})).await;
    assert_eq!(error_code(&reply), "BAD_USER_INPUT");
    assert_eq!(reply["errors"][0]["extensions"]["field"], "email", "{reply}");
    assert!(reply["errors"][0]["message"].as_str().unwrap().starts_with("Too many failed"), "{reply}");
    assert_eq!(hashes(&app).await, before);
}

/// A plain member who created `workspaces` workspaces (and a root who signed up first); the member's token.
async fn member_of(app: &TestApp, workspaces: usize) -> String {
    app.sign_up("root@example.com", "correct horse battery").await;
    let (member, _) = app.sign_up("member@example.com", "correct horse battery").await;
    for n in 0..workspaces {
        app.create_workspace(&member, &format!("Workspace {n:02}")).await;
    }
    member
}

/// `aliases` aliases of `self { roleBindings { workspace { users { roleBindings { … { id } } } } } }`,
/// `depth` fields deep counting `self` and `id` (the depth the query-depth limit counts; 15 is the
/// largest it accepts): the fan-out of issue 22.
fn fan_out(aliases: usize, depth: usize) -> String {
    let mut inner = String::from("id");
    let mut level = depth - 2;
    let names = ["roleBindings", "workspace", "users"];
    let mut chain = Vec::new();
    while level > 0 {
        chain.push(names[chain.len() % 3]);
        level -= 1;
    }
    for name in chain.iter().rev() {
        inner = format!("{name} {{ {inner} }}");
    }
    let fields: Vec<String> = (0..aliases).map(|n| format!("a{n}: self {{ {inner} }}")).collect();
    format!("{{ {} }}", fields.join(" "))
}

const DASHBOARD: &str = include_str!("../../bench/queries/dashboard.graphql");

fn assert_cap_error(reply: &Value, cap: &str) {
    assert!(reply.get("data").is_none(), "a request error has no data: {reply}");
    let errors = reply["errors"].as_array().unwrap_or_else(|| panic!("no errors: {reply}"));
    assert_eq!(errors.len(), 1, "{reply}");
    assert_eq!(errors[0]["extensions"]["code"], "BAD_USER_INPUT", "{reply}");
    assert!(errors[0]["message"].as_str().unwrap().contains(cap), "{reply}");
}

#[tokio::test]
async fn a_fan_out_document_is_refused_before_it_runs_and_an_honest_page_still_works() {
    let app = TestApp::spawn_with(|config| config.public_signups = true).await;
    let member = member_of(&app, 14).await;
    let statements = || app.state.statements.load(std::sync::atomic::Ordering::SeqCst);

    let document = fan_out(8, 15);
    assert!(document.len() < 2000, "a document of a few KB ({} bytes)", document.len());
    let before = statements();
    let started = std::time::Instant::now();
    let reply = app.gql(&document, json!({}), Some(&member)).await;
    assert_cap_error(&reply, "CAPCOM_MAX_REPLY_OBJECTS");
    assert!(reply["errors"][0]["message"].as_str().unwrap().starts_with("The reply could hold about"), "{reply}");
    // Only the caller was loaded (authentication): nothing of the document ran.
    assert_eq!(statements() - before, 1);
    eprintln!("fan-out refused in {:?}", started.elapsed());

    // The same document, one alias at depth 6, is an honest question and is answered.
    let reply = app.gql(&fan_out(1, 6), json!({}), Some(&member)).await;
    assert!(reply.get("errors").is_none(), "{reply}");
    assert!(reply["data"]["a0"]["roleBindings"].as_array().unwrap().len() >= 14, "{reply}");

    // The console's dashboard (bench/queries/dashboard.graphql) over 14 workspaces.
    let reply = app.gql(DASHBOARD, json!({}), Some(&member)).await;
    assert!(reply.get("errors").is_none(), "{reply}");
    assert_eq!(reply["data"]["workspaces"].as_array().unwrap().len(), 14);
    let reply = app.gql("{ self { id } }", json!({}), Some(&member)).await;
    assert!(reply["data"]["self"]["id"].is_string(), "{reply}");
}

#[tokio::test]
async fn the_objects_a_reply_holds_are_counted_while_it_executes() {
    let app = TestApp::spawn_with(|config| {
        config.public_signups = true;
        // The estimate counts a plain list at 20 items: `workspaces { id }` passes it, 25 workspaces do not.
        config.max_reply_objects = 22;
    })
    .await;
    let member = member_of(&app, 25).await;
    let reply = app.gql("{ workspaces { id } }", json!({}), Some(&member)).await;
    assert_cap_error(&reply, "more than 22 objects (CAPCOM_MAX_REPLY_OBJECTS)");
    let reply = app.gql("{ paginatedWorkspaces(take: 10) { id } }", json!({}), Some(&member)).await;
    assert!(reply.get("errors").is_none(), "{reply}");
    assert_eq!(reply["data"]["paginatedWorkspaces"].as_array().unwrap().len(), 10);

    // In a batch, each operation is held to the cap on its own.
    let batch = json!([{"query": "{ workspaces { id } }"}, {"query": "{ self { id } }"}]);
    let response = app.client.post(format!("{}/v1", app.base)).header("Authorization", &member).json(&batch);
    let reply: Value = response.send().await.unwrap().json().await.unwrap();
    assert_cap_error(&reply[0], "CAPCOM_MAX_REPLY_OBJECTS");
    assert!(reply[1]["data"]["self"]["id"].is_string(), "{reply}");
}

#[tokio::test]
async fn a_reply_larger_than_the_byte_cap_is_a_request_error() {
    let app = TestApp::spawn_with(|config| {
        config.public_signups = true;
        config.max_reply_bytes = 2_000;
    })
    .await;
    let member = member_of(&app, 14).await;
    let reply = app.gql(DASHBOARD, json!({}), Some(&member)).await;
    assert_cap_error(&reply, "larger than 2000 bytes (CAPCOM_MAX_REPLY_BYTES)");
    let response = app
        .client
        .post(format!("{}/v1", app.base))
        .header("Authorization", &member)
        .header("Accept", "application/graphql-response+json")
        .json(&json!({"query": DASHBOARD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400, "a request error");
    let reply = app.gql("{ self { id } }", json!({}), Some(&member)).await;
    assert!(reply["data"]["self"]["id"].is_string(), "a small reply is unaffected: {reply}");
}

/// A deployment with 100 plain environment variables of 950 bytes (95 000 bytes of values), on a server
/// whose replies are capped at 250 000 bytes and whose pool has two connections; its owner's token and the
/// deployment's id.
async fn deployment_with_large_variables(app: &TestApp) -> (String, String) {
    let (token, _) = app.sign_up("owner@example.com", "correct horse battery").await;
    let workspace = app.create_workspace(&token, "Data").await;
    let deployment = app.create_deployment(&token, &workspace, "etl").await["id"].as_str().unwrap().to_owned();
    let variables: Vec<Value> =
        (0..100).map(|n| json!({"key": format!("KEY_{n}"), "value": "v".repeat(950), "isSecret": false})).collect();
    let stored = app
        .gql(
            "mutation($d: Uuid!, $v: [InputEnvironmentVariable!]!) { updateDeploymentVariables(deploymentUuid: $d, environmentVariables: $v) { key } }",
            json!({"d": deployment, "v": variables}),
            Some(&token),
        )
        .await;
    assert_eq!(stored["data"]["updateDeploymentVariables"].as_array().map(Vec::len), Some(100), "{stored}");
    (token, deployment)
}

/// `aliases` aliases of `deploymentVariables(deploymentUuid: $d) { key value }`.
fn variables_aliases(aliases: usize) -> String {
    let fields: Vec<String> =
        (0..aliases).map(|n| format!("a{n}: deploymentVariables(deploymentUuid: $d) {{ key value }}")).collect();
    format!("query($d: Uuid!) {{ {} }}", fields.join(" "))
}

fn small_pool_and_byte_cap(config: &mut capcom::config::Config) {
    config.max_reply_bytes = 250_000;
    config.pool_size = 2;
}

/// The most statements a refused request below may cost once the text it built passes the cap: the
/// caller's authentication, then for each alias that starts before the cap is passed (three carry the
/// cap's worth of values, and at most one more per pooled connection was already running) the deployment
/// and its variables, plus one ancestry lookup per wave. Without the bound each of the aliases would run
/// its two statements: 40 for one operation, 400 for a batch of ten.
const STOPPED_EARLY: u64 = 20;

/// SPEC §7: the text a reply holds (here environment variable values) is counted against
/// CAPCOM_MAX_REPLY_BYTES while the reply is built, for the whole request: once the count passes the cap the
/// request is refused naming it, and the aliases and batched operations that were still to run issue no
/// statements. A large reply under the cap is answered whole.
#[tokio::test]
async fn the_text_a_reply_holds_is_counted_while_it_is_built_for_the_whole_request() {
    let app = TestApp::spawn_with(small_pool_and_byte_cap).await;
    let (token, deployment) = deployment_with_large_variables(&app).await;
    let statements = || app.state.statements.load(std::sync::atomic::Ordering::SeqCst);

    // Two aliases: 190 000 bytes of values, under the cap, answered whole.
    let reply = app.gql(&variables_aliases(2), json!({"d": deployment}), Some(&token)).await;
    assert!(reply.get("errors").is_none(), "{reply}");
    for alias in ["a0", "a1"] {
        let items = reply["data"][alias].as_array().unwrap_or_else(|| panic!("{alias}: {reply}"));
        assert_eq!(items.len(), 100);
        assert!(items.iter().all(|item| item["value"].as_str().map(str::len) == Some(950)));
    }

    // Twenty aliases (1.9 MB of values, a document of 1 KB): refused, and the work stopped near the cap.
    let document = variables_aliases(20);
    assert!(document.len() < 1500, "{} bytes", document.len());
    let before = statements();
    let reply = app.gql(&document, json!({"d": deployment}), Some(&token)).await;
    let spent = statements() - before;
    assert_cap_error(&reply, "larger than 250000 bytes (CAPCOM_MAX_REPLY_BYTES)");
    assert!(spent <= STOPPED_EARLY, "{spent} statements for a reply refused at its fourth alias");

    // Ten such operations in one batch are one request: one count, one refusal for the whole reply.
    let batch: Vec<Value> = (0..10).map(|_| json!({"query": document, "variables": {"d": deployment}})).collect();
    let before = statements();
    let response = app.client.post(format!("{}/v1", app.base)).header("Authorization", &token).json(&batch);
    let reply: Value = response.send().await.unwrap().json().await.unwrap();
    let spent = statements() - before;
    assert_cap_error(&reply, "larger than 250000 bytes (CAPCOM_MAX_REPLY_BYTES)");
    assert!(spent <= STOPPED_EARLY, "{spent} statements for a batch refused at its fourth alias");

    // The same batch with an operation of two aliases and small ones is answered: the count is of what
    // the reply holds.
    let batch = json!([
        {"query": variables_aliases(2), "variables": {"d": deployment}},
        {"query": "{ self { id } }"},
    ]);
    let response = app.client.post(format!("{}/v1", app.base)).header("Authorization", &token).json(&batch);
    let reply: Value = response.send().await.unwrap().json().await.unwrap();
    assert!(reply[0].get("errors").is_none() && reply[1].get("errors").is_none(), "{reply}");
    assert_eq!(reply[0]["data"]["a1"].as_array().map(Vec::len), Some(100));
    assert!(reply[1]["data"]["self"]["id"].is_string(), "{reply}");
}

mod websocket {
    use futures_util::{SinkExt, StreamExt};
    use serde_json::{Value, json};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    use super::{
        DASHBOARD, STOPPED_EARLY, assert_cap_error, deployment_with_large_variables, fan_out, member_of,
        small_pool_and_byte_cap, variables_aliases,
    };
    use crate::common::TestApp;

    type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

    async fn next(socket: &mut Socket) -> Value {
        loop {
            match tokio::time::timeout(std::time::Duration::from_secs(20), socket.next()).await.unwrap() {
                Some(Ok(Message::Text(text))) => return serde_json::from_str(&text).unwrap(),
                Some(Ok(Message::Close(frame))) => return json!({"type": "closed", "frame": format!("{frame:?}")}),
                Some(Ok(_)) => continue,
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    async fn connect(app: &TestApp, token: &str) -> Socket {
        let url = format!("{}/ws", app.base.replace("http://", "ws://"));
        let mut request = url.into_client_request().unwrap();
        request.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().unwrap());
        let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        let init = json!({"type": "connection_init", "payload": {"authorization": token}});
        socket.send(Message::Text(init.to_string().into())).await.unwrap();
        assert_eq!(next(&mut socket).await["type"], "connection_ack");
        socket
    }

    async fn run(socket: &mut Socket, id: &str, query: &str) -> Value {
        let subscribe = json!({"type": "subscribe", "id": id, "payload": {"query": query}});
        socket.send(Message::Text(subscribe.to_string().into())).await.unwrap();
        next(socket).await
    }

    #[tokio::test]
    async fn every_websocket_operation_is_held_to_the_reply_caps() {
        let app = TestApp::spawn_with(|config| {
            config.public_signups = true;
            config.max_reply_bytes = 2_000;
        })
        .await;
        let member = member_of(&app, 14).await;
        let mut socket = connect(&app, &member).await;

        let reply = run(&mut socket, "fan-out", &fan_out(8, 15)).await;
        assert_eq!(reply["type"], "error", "{reply}");
        assert_cap_error(&json!({"errors": reply["payload"]}), "CAPCOM_MAX_REPLY_OBJECTS");

        let reply = run(&mut socket, "dashboard", DASHBOARD).await;
        assert_eq!(reply["type"], "error", "{reply}");
        assert_cap_error(&json!({"errors": reply["payload"]}), "CAPCOM_MAX_REPLY_BYTES");

        let reply = run(&mut socket, "small", "{ self { id } }").await;
        assert_eq!(reply["type"], "next", "{reply}");
        assert!(reply["payload"]["data"]["self"]["id"].is_string(), "{reply}");
    }

    /// On a socket each operation is a request: its text is counted while it runs, and once the count
    /// passes CAPCOM_MAX_REPLY_BYTES the operation is refused and stops issuing statements.
    #[tokio::test]
    async fn a_websocket_operation_stops_once_its_text_passes_the_byte_cap() {
        let app = TestApp::spawn_with(small_pool_and_byte_cap).await;
        let (token, deployment) = deployment_with_large_variables(&app).await;
        let statements = || app.state.statements.load(std::sync::atomic::Ordering::SeqCst);
        let mut socket = connect(&app, &token).await;
        let operation = |id: &str, aliases: usize| {
            json!({"type": "subscribe", "id": id, "payload": {
                "query": variables_aliases(aliases), "variables": {"d": deployment}
            }})
        };

        let before = statements();
        socket.send(Message::Text(operation("large", 20).to_string().into())).await.unwrap();
        let reply = next(&mut socket).await;
        let spent = statements() - before;
        assert_eq!(reply["type"], "error", "{reply}");
        assert_cap_error(&json!({"errors": reply["payload"]}), "larger than 250000 bytes (CAPCOM_MAX_REPLY_BYTES)");
        // Authentication again for the operation, then as over HTTP.
        assert!(spent <= STOPPED_EARLY + 1, "{spent} statements for an operation refused at its fourth alias");

        // The next operation on the socket has a count of its own.
        socket.send(Message::Text(operation("honest", 2).to_string().into())).await.unwrap();
        let reply = next(&mut socket).await;
        assert_eq!(reply["type"], "next", "{reply}");
        assert_eq!(reply["payload"]["data"]["a1"].as_array().map(Vec::len), Some(100), "{reply}");
    }
}

/// Every field that checks or sets a password takes the request's one password check (SPEC §7): reset links
/// that name no live reset cost a lookup and no hash, however many aliases and batched operations carry
/// them; a password change (which checks the current password and hashes the new one) happens once per
/// request; and no mix of them goes past that.
#[tokio::test]
async fn password_resets_and_changes_are_one_per_request_and_garbage_tokens_cost_no_hash() {
    let app = TestApp::spawn_with(|config| config.login_max_failures_per_address = 100_000).await;
    let (root, _) = app.sign_up("root@example.com", "correct horse battery").await;

    // 10 operations of 20 aliases of resetPassword with a token that names nothing: no hash at all.
    let before = hashes(&app).await;
    let resets = |b: usize| {
        let aliases: String = (0..20)
            .map(|i| format!("r{i}: resetPassword(token: \"ccr_garbage{b}x{i}\", password: \"a long new password\") "))
            .collect();
        format!("mutation {{ {aliases} }}")
    };
    let batch = Value::Array((0..10).map(|b| json!({"query": resets(b)})).collect());
    let reply = post(&app, &batch).await;
    let refused = errors(&reply);
    assert_eq!(refused.len(), 200, "{reply}");
    assert_eq!(refused[0]["extensions"]["field"], "token", "the first is refused on its token: {reply}");
    for error in &refused[1..] {
        assert_eq!(error["extensions"]["field"], "password", "{error}");
    }
    assert_eq!(hashes(&app).await, before, "a reset token that names nothing is refused before hashing");

    // 20 aliases of changePassword (to the same password, so each would succeed): one change, two hashes.
    let before = hashes(&app).await;
    let aliases: String = (0..20)
        .map(|i| {
            format!(
                "c{i}: changePassword(currentPassword: \"correct horse battery\", newPassword: \"correct horse battery\") {{ user {{ id }} }} "
            )
        })
        .collect();
    let reply = app.gql(&format!("mutation {{ {aliases} }}"), json!({}), Some(&root)).await;
    let wrapped = Value::Array(vec![reply.clone()]);
    let refused = errors(&wrapped);
    assert_eq!(refused.len(), 19, "{reply}");
    assert!(refused.iter().all(|error| error["extensions"]["field"] == "password"), "{reply}");
    assert_eq!(hashes(&app).await, before + 2, "the current password checked and the new one hashed, once");

    // A sign-in beside a reset: the second is refused without a hash.
    let before = hashes(&app).await;
    let reply = post(
        &app,
        &json!({"query": "mutation { a: createToken(identity: \"root@example.com\", password: \"wrong password\") { token { value } } b: resetPassword(token: \"ccr_x\", password: \"a long new password\") }"}),
    )
    .await;
    assert_eq!(errors(&Value::Array(vec![reply.clone()])).len(), 2, "{reply}");
    assert!(hashes(&app).await <= before + 1, "at most one hash for a sign-in and a reset together");
}

/// GraphiQL's standard introspection query (graphql-js `getIntrospectionQuery`, every option on).
const INTROSPECTION_QUERY: &str = include_str!("../../src/graphql/introspection_query.graphql");

/// Issue 22, F4: introspection is sized exactly before execution. GraphiQL's own query is answered; 20
/// aliases of a deep `__schema` (eleven descriptions of the schema) and fragments nesting
/// `fields { type { … } }` ten levels deep are refused, anonymously, before anything executes.
#[tokio::test]
async fn introspection_is_sized_before_execution() {
    let app = TestApp::spawn().await;
    let reply = post(&app, &json!({"query": INTROSPECTION_QUERY})).await;
    assert!(reply.get("errors").is_none(), "{reply}");
    assert!(reply["data"]["__schema"]["types"].as_array().unwrap().len() > 50, "{reply}");

    let aliases: Vec<String> = (0..20)
        .map(|n| format!("a{n}: __schema {{ types {{ fields {{ type {{ ofType {{ ofType {{ name }} }} }} }} }} }}"))
        .collect();
    let started = std::time::Instant::now();
    let reply = post(&app, &json!({"query": format!("{{ {} }}", aliases.join(" "))})).await;
    let elapsed = started.elapsed();
    assert_eq!(error_code(&reply), "BAD_USER_INPUT", "{reply}");
    let message = reply["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("introspection") && message.contains("complete descriptions of the schema"), "{message}");
    assert!(reply.get("data").is_none_or(Value::is_null), "{reply}");
    eprintln!("20 aliases of __schema refused in {elapsed:?}");

    let mut nested = String::from("{ __schema { types { ...F10 } } } fragment F0 on __Type { name }");
    for level in 1..=10 {
        let below = level - 1;
        nested.push_str(&format!(
            " fragment F{level} on __Type {{ fields {{ type {{ ...F{below} ofType {{ ...F{below} ofType {{ ...F{below} }} }} }} }} }}"
        ));
    }
    let started = std::time::Instant::now();
    let reply = post(&app, &json!({"query": nested})).await;
    let elapsed = started.elapsed();
    assert_eq!(error_code(&reply), "BAD_USER_INPUT", "{reply}");
    // Refused by the document limits (fields once fragments are expanded) before the estimate sees it.
    let message = reply["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("CAPCOM_MAX_REPLY_OBJECTS") || message.contains("too complex"), "{reply}");
    eprintln!("nested introspection fragments refused in {elapsed:?}");

    // The allowance (two descriptions of the schema) is the request's, not each batched operation's: of
    // three batched copies of GraphiQL's query, the first two are answered and the third refused.
    let batch: Vec<Value> = (0..3).map(|_| json!({"query": INTROSPECTION_QUERY})).collect();
    let replies = post(&app, &json!(batch)).await;
    let replies = replies.as_array().unwrap_or_else(|| panic!("a batch answer: {replies}"));
    assert!(replies[0].get("errors").is_none() && replies[1].get("errors").is_none(), "{replies:?}");
    assert_eq!(error_code(&replies[2]), "BAD_USER_INPUT", "{}", replies[2]);
    assert!(replies[2]["errors"][0]["message"].as_str().unwrap().contains("per request"), "{}", replies[2]);
}
