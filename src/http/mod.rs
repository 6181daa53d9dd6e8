//! HTTP transport: routes, the GraphQL endpoint and WebSocket, health checks, GraphiQL, CORS, the example
//! console.

pub mod audit_export;
pub mod client;
pub mod console;
pub mod cors;
pub mod graphiql;
pub mod graphql;
pub mod health;
pub mod input;
pub mod metrics;
pub mod oauth;
pub mod operation;
pub mod router;
pub mod scim;
pub mod server;
pub mod telemetry;
pub mod ws;

pub use router::{build_router, metrics_router};
