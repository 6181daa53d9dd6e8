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
