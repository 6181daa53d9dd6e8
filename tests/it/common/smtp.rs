//! A real SMTP server on loopback for the mail tests: the SMTP conversation (commands, replies, AUTH,
//! DATA) is the `mailin` crate's state machine; this file only moves its lines over a Tokio socket and
//! keeps what arrives.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mailin::{Action, AuthMechanism, Handler, Response, SessionBuilder, response};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A message as the server received it.
#[derive(Debug, Clone, Default)]
pub struct Received {
    /// `MAIL FROM`.
    pub from: String,
    /// `RCPT TO`, in order.
    pub to: Vec<String>,
    /// The message (headers and body) as sent in DATA.
    pub data: String,
    /// The user name the client authenticated as, if it did.
    pub user: Option<String>,
}

#[derive(Clone)]
struct Sink {
    inbox: Arc<Mutex<Vec<Received>>>,
    current: Received,
    /// Recipients refused with 550.
    refuse: Vec<String>,
}

impl Handler for Sink {
    fn mail(&mut self, _ip: IpAddr, _domain: &str, from: &str) -> Response {
        self.current.from = from.to_owned();
        self.current.to.clear();
        self.current.data.clear();
        response::OK
    }

    fn rcpt(&mut self, to: &str) -> Response {
        if self.refuse.iter().any(|refused| refused == to) {
            return response::NO_MAILBOX;
        }
        self.current.to.push(to.to_owned());
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.current.data.push_str(&String::from_utf8_lossy(buf));
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        self.inbox.lock().unwrap().push(self.current.clone());
        response::OK
    }

    fn auth_plain(&mut self, _authorization_id: &str, user: &str, password: &str) -> Response {
        if user == "capcom" && password == "mail-secret" {
            self.current.user = Some(user.to_owned());
            response::AUTH_OK
        } else {
            response::INVALID_CREDENTIALS
        }
    }
}

/// A running SMTP server; dropping it stops it.
pub struct SmtpServer {
    /// Its port on 127.0.0.1.
    pub port: u16,
    inbox: Arc<Mutex<Vec<Received>>>,
    task: JoinHandle<()>,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A port on 127.0.0.1 where nothing listens (yet).
pub fn unused_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl SmtpServer {
    /// Starts a server on a free port.
    pub async fn start() -> SmtpServer {
        Self::start_on(0, &[]).await
    }

    /// Starts a server on `port` (0: any) that refuses mail for `refuse` with 550.
    pub async fn start_on(port: u16, refuse: &[&str]) -> SmtpServer {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let inbox = Arc::new(Mutex::new(Vec::new()));
        let sink = Sink {
            inbox: inbox.clone(),
            current: Received::default(),
            refuse: refuse.iter().map(|r| r.to_string()).collect(),
        };
        let task = tokio::spawn(async move {
            let mut sessions = tokio::task::JoinSet::new();
            loop {
                let Ok((stream, peer)) = listener.accept().await else { continue };
                let sink = sink.clone();
                sessions.spawn(async move {
                    let mut builder = SessionBuilder::new("sink.test");
                    builder.enable_auth(AuthMechanism::Plain).insecure_enable_plaintext_auth();
                    let mut session = builder.build(peer.ip(), sink);
                    let (read, mut write) = stream.into_split();
                    let mut reader = BufReader::new(read);
                    if write.write_all(&session.greeting().buffer().unwrap()).await.is_err() {
                        return;
                    }
                    let mut line = Vec::new();
                    loop {
                        line.clear();
                        match reader.read_until(b'\n', &mut line).await {
                            Ok(0) | Err(_) => return,
                            Ok(_) => {}
                        }
                        let reply = session.process(&line);
                        match reply.action {
                            Action::NoReply => {}
                            Action::Reply => {
                                if write.write_all(&reply.buffer().unwrap()).await.is_err() {
                                    return;
                                }
                            }
                            Action::Close | Action::UpgradeTls => {
                                let _ = write.write_all(&reply.buffer().unwrap()).await;
                                return;
                            }
                        }
                    }
                });
            }
        });
        SmtpServer { port, inbox, task }
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.inbox.lock().unwrap().clone()
    }

    /// Waits (at most 30 s) until at least `count` messages arrived; returns them all.
    pub async fn wait_for(&self, count: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let received = self.received();
            if received.len() >= count {
                return received;
            }
            assert!(Instant::now() < deadline, "{count} messages did not arrive: {received:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
