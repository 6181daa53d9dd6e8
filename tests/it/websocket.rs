//! `/ws` speaks graphql-transport-ws and the legacy graphql-ws protocol; the token travels in
//! `connection_init`.

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::common::TestApp;

async fn handshake(app: &TestApp, protocol: &str, payload: Value) -> Value {
    let url = format!("{}/ws", app.base.replace("http://", "ws://"));
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert("Sec-WebSocket-Protocol", protocol.parse().unwrap());
    let (mut socket, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(response.headers().get("sec-websocket-protocol").unwrap(), protocol);
    socket
        .send(Message::Text(json!({"type": "connection_init", "payload": payload}).to_string().into()))
        .await
        .unwrap();
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(text))) => {
                let message: Value = serde_json::from_str(&text).unwrap();
                if message["type"] != "ka" {
                    return message;
                }
            }
            Some(Ok(Message::Close(frame))) => {
                return json!({"type": "closed", "reason": frame.map(|f| f.reason.to_string())});
            }
            Some(Ok(_)) => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn both_protocols_acknowledge_a_connection_with_a_token() {
    let app = TestApp::spawn().await;
    let (token, _) = app.sign_up("ada@example.com", "correct horse battery").await;
    for protocol in ["graphql-transport-ws", "graphql-ws"] {
        let reply = handshake(&app, protocol, json!({"authorization": token})).await;
        assert_eq!(reply["type"], "connection_ack", "{protocol}: {reply}");
    }
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open(app: &TestApp, protocol: &str) -> Socket {
    let url = format!("{}/ws", app.base.replace("http://", "ws://"));
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert("Sec-WebSocket-Protocol", protocol.parse().unwrap());
    tokio_tungstenite::connect_async(request).await.unwrap().0
}

async fn send(socket: &mut Socket, message: Value) {
    socket.send(Message::Text(message.to_string().into())).await.unwrap();
}

/// The next protocol message, or `{"type": "closed", "code": …, "reason": …}` when the server closes;
/// at most 20 s.
async fn next(socket: &mut Socket) -> Value {
    let wait = async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Text(text))) => {
                    let message: Value = serde_json::from_str(&text).unwrap();
                    if message["type"] != "ka" {
                        return message;
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    let (code, reason) = frame.map(|f| (u16::from(f.code), f.reason.to_string())).unwrap_or_default();
                    return json!({"type": "closed", "code": code, "reason": reason});
                }
                Some(Ok(_)) => continue,
                None => return json!({"type": "closed", "code": null}),
                Some(Err(error)) => return json!({"type": "closed", "error": error.to_string()}),
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(20), wait).await.expect("a message within 20 s")
}

const STATUS: &str = "subscription($d: Uuid) { deploymentStatus(deploymentUuid: $d) { id workerMax } }";

async fn deployment(app: &TestApp) -> (String, String) {
    let (token, _) = app.sign_up("ada@example.com", "correct horse battery").await;
    let workspace = app.create_workspace(&token, "Data").await;
    let id = app.create_deployment(&token, &workspace, "etl").await["id"].as_str().unwrap().to_owned();
    (token, id)
}

#[tokio::test]
async fn a_bad_or_missing_token_is_refused_at_connection_init() {
    let app = TestApp::spawn().await;
    app.sign_up("ada@example.com", "correct horse battery").await;
    for payload in [json!({"authorization": "not-a-token"}), json!({})] {
        let mut socket = open(&app, "graphql-transport-ws").await;
        send(&mut socket, json!({"type": "connection_init", "payload": payload})).await;
        let reply = next(&mut socket).await;
        assert_eq!(reply["code"], 4403, "{reply}");

        let mut socket = open(&app, "graphql-ws").await;
        send(&mut socket, json!({"type": "connection_init", "payload": payload})).await;
        let reply = next(&mut socket).await;
        assert_eq!(reply["type"], "connection_error", "{reply}");
        assert!(reply["payload"]["message"].is_string());
    }
}

#[tokio::test]
async fn a_socket_that_never_initialises_is_closed_with_4408() {
    let app = TestApp::spawn_with(|config| config.ws_init_timeout_ms = 300).await;
    let mut socket = open(&app, "graphql-transport-ws").await;
    let reply = next(&mut socket).await;
    assert_eq!(reply["code"], 4408, "{reply}");
}

#[tokio::test]
async fn a_reused_subscription_id_closes_with_4409_and_a_second_init_with_4429() {
    let app = TestApp::spawn().await;
    let (token, deployment) = deployment(&app).await;
    let mut socket = open(&app, "graphql-transport-ws").await;
    send(&mut socket, json!({"type": "connection_init", "payload": {"authorization": token}})).await;
    assert_eq!(next(&mut socket).await["type"], "connection_ack");
    let subscribe =
        json!({"id": "1", "type": "subscribe", "payload": {"query": STATUS, "variables": {"d": deployment}}});
    send(&mut socket, subscribe.clone()).await;
    assert_eq!(next(&mut socket).await["type"], "next");
    send(&mut socket, subscribe).await;
    let reply = next(&mut socket).await;
    assert_eq!(reply["code"], 4409, "{reply}");

    let mut socket = open(&app, "graphql-transport-ws").await;
    send(&mut socket, json!({"type": "connection_init", "payload": {"authorization": token}})).await;
    assert_eq!(next(&mut socket).await["type"], "connection_ack");
    send(&mut socket, json!({"type": "connection_init", "payload": {"authorization": token}})).await;
    assert_eq!(next(&mut socket).await["code"], 4429);
}

#[tokio::test]
async fn the_cli_legacy_start_without_id_right_after_init_is_served() {
    let app = TestApp::spawn().await;
    let (token, deployment) = deployment(&app).await;
    let mut socket = open(&app, "graphql-ws").await;
    // As the astro CLI does: init and start back to back, the start without an id.
    send(&mut socket, json!({"type": "connection_init", "payload": {"authorization": token}})).await;
    send(&mut socket, json!({"type": "start", "payload": {"query": STATUS, "variables": {"d": deployment}}})).await;
    assert_eq!(next(&mut socket).await["type"], "connection_ack");
    let data = next(&mut socket).await;
    assert_eq!(data["type"], "data", "{data}");
    assert_eq!(data["payload"]["data"]["deploymentStatus"]["workerMax"], 10, "{data}");
}

#[tokio::test]
async fn sockets_are_bounded_per_principal_and_in_total() {
    let app = TestApp::spawn_with(|config| {
        config.ws_max_sockets_per_principal = 2;
        config.ws_max_sockets = 3;
    })
    .await;
    let (token, _) = app.sign_up("ada@example.com", "correct horse battery").await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut socket = open(&app, "graphql-transport-ws").await;
        send(&mut socket, json!({"type": "connection_init", "payload": {"authorization": token}})).await;
        assert_eq!(next(&mut socket).await["type"], "connection_ack");
        held.push(socket);
    }
    let mut third = open(&app, "graphql-transport-ws").await;
    send(&mut third, json!({"type": "connection_init", "payload": {"authorization": token}})).await;
    assert_eq!(next(&mut third).await["code"], 1013, "a principal holds at most 2 sockets");

    // Three sockets are open or opening now counts toward the total until closed; one more is refused
    // before the upgrade.
    let _waiting = open(&app, "graphql-transport-ws").await;
    let url = format!("{}/ws", app.base.replace("http://", "ws://"));
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status(), 503),
        other => panic!("expected 503, got {other:?}"),
    }
    drop(held);
}

/// A socket does not outlive its credential: every operation it starts reads the credential and the roles
/// again, so a deleted key, a logged-out user or a member removed from a workspace is refused on a socket
/// opened before (it is closed with 4403), on both protocols, for mutations as for subscriptions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_stops_working_once_its_credential_is_revoked() {
    let app = TestApp::spawn().await;
    let (root, workspace_id) = {
        let (token, _) = app.sign_up("ada@example.com", "correct horse battery").await;
        let workspace = app.create_workspace(&token, "Data").await;
        (token, workspace)
    };
    const MINT: &str = "mutation($w: Uuid!, $l: String!) { createWorkspaceServiceAccount(workspaceUuid: $w, label: $l, role: WORKSPACE_ADMIN) { id apiKey } }";
    for protocol in ["graphql-transport-ws", "graphql-ws"] {
        let created = app.gql(MINT, json!({"w": workspace_id, "l": format!("ci {protocol}")}), Some(&root)).await;
        let key = created["data"]["createWorkspaceServiceAccount"]["apiKey"].as_str().unwrap().to_owned();
        let id = created["data"]["createWorkspaceServiceAccount"]["id"].as_str().unwrap().to_owned();
        let mut socket = open(&app, protocol).await;
        send(&mut socket, json!({"type": "connection_init", "payload": {"authorization": key}})).await;
        assert_eq!(next(&mut socket).await["type"], "connection_ack");

        let deleted = app
            .gql(
                "mutation($w: Uuid!, $id: Uuid!) { deleteWorkspaceServiceAccount(serviceAccountUuid: $id, workspaceUuid: $w) { id } }",
                json!({"w": workspace_id, "id": id}),
                Some(&root),
            )
            .await;
        assert!(deleted.get("errors").is_none(), "{deleted}");
        let before = app.count("SELECT count(*) AS n FROM service_accounts").await;
        let start = if protocol == "graphql-ws" { "start" } else { "subscribe" };
        send(
            &mut socket,
            json!({"id": "1", "type": start, "payload": {
                "query": MINT, "variables": {"w": workspace_id, "l": "minted by a deleted key"}
            }}),
        )
        .await;
        let mut reply = next(&mut socket).await;
        if reply["type"] == "connection_error" {
            reply = next(&mut socket).await;
        }
        assert_eq!(reply["type"], "closed", "{protocol}: {reply}");
        assert_eq!(reply["code"], 4403, "{protocol}: {reply}");
        assert_eq!(app.count("SELECT count(*) AS n FROM service_accounts").await, before, "nothing was minted");
    }

    // A user who logs out elsewhere.
    let mut socket = open(&app, "graphql-transport-ws").await;
    send(&mut socket, json!({"type": "connection_init", "payload": {"authorization": root}})).await;
    assert_eq!(next(&mut socket).await["type"], "connection_ack");
    send(&mut socket, json!({"id": "1", "type": "subscribe", "payload": {"query": "{ self { id } }"}})).await;
    assert_eq!(next(&mut socket).await["type"], "next", "works before the logout");
    let _ = next(&mut socket).await; // complete
    assert!(app.gql("mutation { logout }", json!({}), Some(&root)).await.get("errors").is_none());
    send(&mut socket, json!({"id": "2", "type": "subscribe", "payload": {"query": "{ self { id } }"}})).await;
    let reply = next(&mut socket).await;
    assert_eq!((reply["type"].as_str(), reply["code"].as_i64()), (Some("closed"), Some(4403)), "{reply}");
}

/// A reply on a socket is shaped as over HTTP: errors first, then the data with every object's fields in
/// query order (also those that waited for the database).
#[tokio::test]
async fn socket_replies_keep_the_query_order() {
    let app = TestApp::spawn().await;
    let (token, _) = deployment(&app).await;
    let mut socket = open(&app, "graphql-transport-ws").await;
    send(&mut socket, json!({"type": "connection_init", "payload": {"authorization": token}})).await;
    assert_eq!(next(&mut socket).await["type"], "connection_ack");
    let query = "{ workspaces { deployments { label } users { username } id label } appConfig { version } \
                 deployment(where: {id: \"not-a-uuid\"}) { id } }";
    send(&mut socket, json!({"id": "1", "type": "subscribe", "payload": {"query": query}})).await;
    let reply = next(&mut socket).await;
    assert_eq!(reply["type"], "next", "{reply}");
    let keys = |value: &Value| value.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()).unwrap_or_default();
    assert_eq!(keys(&reply["payload"]), ["errors", "data"], "{reply}");
    // `deployment` failed: async-graphql leaves the field out.
    assert_eq!(keys(&reply["payload"]["data"]), ["workspaces", "appConfig"], "{reply}");
    assert_eq!(keys(&reply["payload"]["data"]["workspaces"][0]), ["deployments", "users", "id", "label"], "{reply}");
}

/// One account's subscriptions are bounded over all its sockets, not only per socket: each event is
/// delivered once per subscription, so sockets × subscriptions per socket would let one account turn one
/// event into thousands of deliveries (SPEC §7). A finished subscription gives its place back.
#[tokio::test]
async fn subscriptions_are_bounded_per_principal_over_all_its_sockets() {
    let app = TestApp::spawn_with(|config| {
        config.ws_max_subscriptions = 2;
        config.ws_max_subscriptions_per_principal = 3;
        config.public_signups = true;
    })
    .await;
    let (token, deployment) = deployment(&app).await;
    let (other, _) = app.sign_up("grace@example.com", "correct horse battery").await;
    let subscribe =
        |id: &str| json!({"id": id, "type": "subscribe", "payload": {"query": STATUS, "variables": {"d": deployment}}});
    let mut sockets = Vec::new();
    for _ in 0..2 {
        let mut socket = open(&app, "graphql-transport-ws").await;
        send(&mut socket, json!({"type": "connection_init", "payload": {"authorization": token}})).await;
        assert_eq!(next(&mut socket).await["type"], "connection_ack");
        sockets.push(socket);
    }
    // Two on the first socket (its own limit), one on the second: three in all.
    for (socket, id) in [(0, "a"), (0, "b"), (1, "c")] {
        send(&mut sockets[socket], subscribe(id)).await;
        let reply = next(&mut sockets[socket]).await;
        assert_eq!((reply["type"].as_str(), reply["id"].as_str()), (Some("next"), Some(id)), "{reply}");
    }
    // A fourth, on the second socket, which holds only one: refused for the account, naming the bound.
    send(&mut sockets[1], subscribe("d")).await;
    let reply = next(&mut sockets[1]).await;
    assert_eq!((reply["type"].as_str(), reply["id"].as_str()), (Some("error"), Some("d")), "{reply}");
    assert_eq!(reply["payload"][0]["extensions"]["code"], "BAD_USER_INPUT", "{reply}");
    assert!(reply["payload"][0]["message"].as_str().unwrap().contains("At most 3 subscriptions"), "{reply}");
    // Another account is not affected by this one's allowance (it may not read the deployment, but its
    // subscription runs and is answered).
    let mut third = open(&app, "graphql-transport-ws").await;
    send(&mut third, json!({"type": "connection_init", "payload": {"authorization": other}})).await;
    assert_eq!(next(&mut third).await["type"], "connection_ack");
    send(&mut third, json!({"id": "x", "type": "subscribe", "payload": {"query": "{ self { id } }"}})).await;
    assert_eq!(next(&mut third).await["type"], "next");
    // Completing one gives its place back; so does closing a socket. The server sees either only when it
    // reads the message or the close, so each is waited for by subscribing again until accepted (every
    // refusal is an immediate answer: this does not sleep).
    send(&mut sockets[0], json!({"id": "a", "type": "complete"})).await;
    assert!(accepted_within(&mut sockets[1], &subscribe, "e").await, "a completed subscription gives its place back");
    let first = sockets.remove(0);
    drop(first);
    let mut fresh = open(&app, "graphql-transport-ws").await;
    send(&mut fresh, json!({"type": "connection_init", "payload": {"authorization": token}})).await;
    assert_eq!(next(&mut fresh).await["type"], "connection_ack");
    assert!(
        accepted_within(&mut fresh, &subscribe, "f").await,
        "a closed socket's subscriptions give their places back"
    );
}

/// Subscribes with ids `{prefix}0`, `{prefix}1`… until one is accepted (at most 200 tries).
async fn accepted_within(socket: &mut Socket, subscribe: &impl Fn(&str) -> Value, prefix: &str) -> bool {
    for attempt in 0..200 {
        send(socket, subscribe(&format!("{prefix}{attempt}"))).await;
        let reply = next(socket).await;
        if reply["type"] == "next" {
            return true;
        }
        assert_eq!(reply["type"], "error", "{reply}");
    }
    false
}

/// A WebSocket message is read within `CAPCOM_MAX_INPUT_VALUES` JSON values, like a request body: past it
/// the socket is closed with 4400 naming the bound, before the message is kept.
#[tokio::test]
async fn a_message_of_too_many_json_values_closes_the_socket() {
    let app = TestApp::spawn_with(|config| config.max_input_values = 1000).await;
    let (token, _) = app.sign_up("ada@example.com", "correct horse battery").await;
    let mut socket = open(&app, "graphql-transport-ws").await;
    send(&mut socket, json!({"type": "connection_init", "payload": {"authorization": token}})).await;
    assert_eq!(next(&mut socket).await["type"], "connection_ack");
    let nested: Vec<Value> = (0..1000).map(|_| json!([])).collect();
    send(
        &mut socket,
        json!({"id": "1", "type": "subscribe", "payload": {"query": "{ self { id } }", "variables": {"x": nested}}}),
    )
    .await;
    let reply = next(&mut socket).await;
    assert_eq!(reply["code"], 4400, "{reply}");
    assert!(reply["reason"].as_str().unwrap().contains("more than 1000 JSON values"), "{reply}");
}
