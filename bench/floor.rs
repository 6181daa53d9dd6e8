//! The floor of the load benchmark (bench/README.md, "Results, part 7"): what two of `bench/run.sh`'s small
//! requests cost when everything capcom does for them is kept but GraphQL.
//!
//! It serves `POST /v1` on capcom's own stack (the same tokio runtime, allocator, axum, connection pool
//! and statements) and answers by hand, with serde, what capcom answers to
//!
//! - `{ self { id username } }` (`bench/queries/self.graphql`): the credential is resolved with
//!   capcom's own function, one statement, and the user's id and username are written;
//! - `workspace(workspaceUuid: …) { id label }` (`bench/queries/key_workspace.graphql`), told apart by
//!   its `variables.workspaceUuid`: the credential, then the workspace row (capcom's own statement),
//!   read-checked with the matrix from its ancestry as capcom checks it, and its id and label written.
//!
//! It has no GraphQL (no parsing, validation or execution of the document, which it does not read), no
//! middleware (request ids, the log line, metrics, CORS, deadlines, body limits) and no error policy: a
//! request it cannot answer gets a bare 400. It is a measuring stick, never a server to run.
//!
//! `cargo build --release --bin capcom-bench-floor`, then `target/release/capcom-bench-floor` with capcom's
//! own configuration (`DATABASE_URL`, `CAPCOM_LISTEN`, …: the same flags and variables; `bench/run.sh` runs
//! it after the last capcom binary). It runs its runtimes as capcom does: one multi-threaded runtime, or
//! with `CAPCOM_RUNTIMES=N` N single-threaded ones sharing the port and the pool's shards
//! (`capcom::runtimes`).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use capcom::auth::Principal;
use capcom::auth::principal::{resolve_api_key, resolve_token};
use capcom::config::Config;
use capcom::rbac::Scope;
use capcom::rbac::check::{Ancestry, allowed_any};
use capcom::rbac::operations::{ObjectKind, read_rule};
use capcom::state::{AppState, Clock};
use clap::Parser;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    config: Config,
}

/// A request body as `bench/run.sh` sends it; only the variables are read.
#[derive(serde::Deserialize)]
struct Body {
    #[serde(default)]
    variables: Option<Variables>,
}

#[derive(serde::Deserialize)]
struct Variables {
    #[serde(rename = "workspaceUuid")]
    workspace_uuid: Option<uuid::Uuid>,
}

#[derive(serde::Serialize)]
struct Data<T> {
    data: T,
}

#[derive(serde::Serialize)]
struct SelfReply<'a> {
    #[serde(rename = "self")]
    user: IdUsername<'a>,
}

#[derive(serde::Serialize)]
struct IdUsername<'a> {
    id: uuid::Uuid,
    username: &'a str,
}

#[derive(serde::Serialize)]
struct WorkspaceReply<'a> {
    workspace: Option<IdLabel<'a>>,
}

#[derive(serde::Serialize)]
struct IdLabel<'a> {
    id: uuid::Uuid,
    label: &'a str,
}

fn refused() -> Response {
    StatusCode::BAD_REQUEST.into_response()
}

fn json(value: &impl serde::Serialize) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json; charset=utf-8")], body).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// The answer to one request: `self` without `variables.workspaceUuid`, else the workspace.
async fn answer(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(request) = serde_json::from_slice::<Body>(&body) else { return refused() };
    let Some(credential) = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(capcom::auth::principal::credential_from_header)
    else {
        return refused();
    };
    let Ok(mut conn) = state.pool.get().await else { return refused() };
    let now = state.clock.now();
    let principal = if capcom::auth::api_key::is_api_key(credential) {
        resolve_api_key(&mut conn, &state.principals, now, credential).await
    } else {
        resolve_token(&mut conn, &state.principals, &state.keys, now, credential).await
    };
    let Ok(principal) = principal.map(|principal| principal.behind(Some(peer.ip()))) else { return refused() };
    match request.variables.and_then(|variables| variables.workspace_uuid) {
        None => match &principal {
            Principal::User(user) => {
                json(&Data { data: SelfReply { user: IdUsername { id: user.user.id, username: &user.user.username } } })
            }
            _ => refused(),
        },
        Some(id) => {
            let Ok(bindings) = principal.bindings() else { return refused() };
            let workspace = match capcom::domain::workspaces::get(&mut conn, id).await {
                Ok(workspace) => workspace,
                Err(_) => return json(&Data { data: WorkspaceReply { workspace: None } }),
            };
            let at = Ancestry::workspace(Some(workspace.organization_id), workspace.id);
            let rule = read_rule(ObjectKind::Workspace, Scope::Workspace);
            if !allowed_any(bindings, &state.matrix, rule, &at) {
                return refused();
            }
            json(&Data {
                data: WorkspaceReply { workspace: Some(IdLabel { id: workspace.id, label: &workspace.label }) },
            })
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // As the server does: the same memory set-up and runtimes for the same work.
    capcom::without_transparent_huge_pages();
    let config = Cli::parse().config;
    let url = config.database_url.clone().ok_or("the floor needs DATABASE_URL")?;
    capcom::runtimes::runtime(config.runtimes)?.block_on(serve(config, url))
}

/// Serves the two answers on `config.listen` until Ctrl-C, on `config.runtimes` runtimes as capcom does.
async fn serve(config: Config, url: String) -> Result<(), Box<dyn std::error::Error>> {
    let listeners = capcom::runtimes::Listeners::bind(config.listen, config.runtimes)?;
    let times = capcom::http::server::ConnectionTimes::from_config(&config);
    let state = capcom::app_state(config, &url, Clock::system())?;
    let upgraded = state.upgraded.clone();
    let router = Router::new().route("/v1", post(answer)).with_state(state);
    listeners.serve(router, async { drop(tokio::signal::ctrl_c().await) }, times, upgraded).await?;
    Ok(())
}
