//! `deploymentStatus` across replicas: a change made through server A reaches a subscriber on server B.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::common::TestApp;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(app: &TestApp, token: &str) -> Socket {
    let mut request = format!("{}/ws", app.base.replace("http://", "ws://")).into_client_request().unwrap();
    request.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    socket
        .send(Message::Text(json!({"type": "connection_init", "payload": {"authorization": token}}).to_string().into()))
        .await
        .unwrap();
    assert_eq!(next_message(&mut socket).await["type"], "connection_ack");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_through_one_server_reaches_a_subscriber_on_another() {
    let a = TestApp::spawn().await;
    // Server B: same database, same signing key.
    let b = TestApp::spawn_on((*a.state.config).clone(), a.db_url.clone()).await;
    let (token, _) = a.sign_up("root@example.com", "correct horse battery").await;
    let workspace = a.create_workspace(&token, "Data").await;
    let deployment = a.create_deployment(&token, &workspace, "etl").await["id"].as_str().unwrap().to_owned();

    let mut socket = connect(&b, &token).await;
    let subscribe = json!({"id": "1", "type": "subscribe", "payload": {
        "query": "subscription($d: Uuid) { deploymentStatus(deploymentUuid: $d) { id workerMax status } }",
        "variables": {"d": deployment}
    }});
    socket.send(Message::Text(subscribe.to_string().into())).await.unwrap();
    let first = next_message(&mut socket).await;
    assert_eq!(first["type"], "next", "{first}");
    assert_eq!(first["payload"]["data"]["deploymentStatus"]["workerMax"], 10);

    let body = a
        .gql(
            "mutation($d: Uuid!) { updateDeployment(deploymentUuid: $d, settings: {workerMax: 15}) { id } }",
            json!({"d": deployment}),
            Some(&token),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    let pushed = next_message(&mut socket).await;
    assert_eq!(pushed["payload"]["data"]["deploymentStatus"]["workerMax"], 15, "{pushed}");

    a.gql(
        "mutation($d: Uuid!) { deleteDeployment(deploymentUuid: $d) { id } }",
        json!({"d": deployment}),
        Some(&token),
    )
    .await;
    let end = next_message(&mut socket).await;
    assert_eq!(end["type"], "complete", "deleting ends the stream: {end}");
}

#[tokio::test]
async fn only_those_who_may_read_the_deployment_subscribe() {
    let app = TestApp::spawn_with(|config| config.public_signups = true).await;
    let root = app.with_owners().await;
    let (outsider, _) = app.sign_up("outsider@example.com", "correct horse battery").await;
    let workspace = app.create_workspace(&root, "Data").await;
    let deployment = app.create_deployment(&root, &workspace, "etl").await["id"].as_str().unwrap().to_owned();
    let mut socket = connect(&app, &outsider).await;
    let subscribe = json!({"id": "1", "type": "subscribe", "payload": {
        "query": "subscription($d: Uuid) { deploymentStatus(deploymentUuid: $d) { id } }",
        "variables": {"d": deployment}
    }});
    socket.send(Message::Text(subscribe.to_string().into())).await.unwrap();
    let reply = next_message(&mut socket).await;
    // graphql-transport-ws carries execution errors in a `next` message.
    assert_eq!(reply["type"], "next", "{reply}");
    assert_eq!(reply["payload"]["errors"][0]["extensions"]["code"], "FORBIDDEN", "{reply}");
    assert!(reply["payload"]["data"].is_null());
}

/// Access is checked again at every event: a member removed from the workspace receives FORBIDDEN at the
/// next change and the stream ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_who_loses_access_stops_receiving_at_the_next_event() {
    let app = TestApp::spawn_with(|config| config.public_signups = true).await;
    let root = app.with_owners().await;
    let (member, member_id) = app.sign_up("member@example.com", "correct horse battery").await;
    let workspace = app.create_workspace(&root, "Data").await;
    assert!(
        app.add_to_workspace(&root, &workspace, "member@example.com", "WORKSPACE_VIEWER").await.get("errors").is_none()
    );
    let deployment = app.create_deployment(&root, &workspace, "etl").await["id"].as_str().unwrap().to_owned();
    let update = |workers: i64| {
        app.gql(
            "mutation($d: Uuid!, $n: Int!) { updateDeployment(deploymentUuid: $d, settings: {workerMax: $n}) { id } }",
            json!({"d": deployment, "n": workers}),
            Some(&root),
        )
    };

    let mut socket = connect(&app, &member).await;
    let subscribe = json!({"id": "1", "type": "subscribe", "payload": {
        "query": "subscription($d: Uuid) { deploymentStatus(deploymentUuid: $d) { id workerMax } }",
        "variables": {"d": deployment}
    }});
    socket.send(Message::Text(subscribe.to_string().into())).await.unwrap();
    assert_eq!(next_message(&mut socket).await["payload"]["data"]["deploymentStatus"]["workerMax"], 10);
    assert!(update(12).await.get("errors").is_none());
    let pushed = next_message(&mut socket).await;
    assert_eq!(pushed["payload"]["data"]["deploymentStatus"]["workerMax"], 12, "{pushed}");

    let removed = app
        .gql(
            "mutation($w: Uuid!, $u: Uuid!) { workspaceRemoveUser(workspaceUuid: $w, userUuid: $u) { id } }",
            json!({"w": workspace, "u": member_id}),
            Some(&root),
        )
        .await;
    assert!(removed.get("errors").is_none(), "{removed}");
    assert!(update(14).await.get("errors").is_none());
    let refused = next_message(&mut socket).await;
    assert_eq!(refused["type"], "next", "{refused}");
    assert_eq!(refused["payload"]["errors"][0]["extensions"]["code"], "FORBIDDEN", "{refused}");
    assert!(refused["payload"]["data"].is_null(), "nothing of the deployment after the removal: {refused}");
    let end = next_message(&mut socket).await;
    assert_eq!(end["type"], "complete", "the stream ends: {end}");
}
