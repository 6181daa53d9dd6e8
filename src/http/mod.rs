//! HTTP transport: routes, the GraphQL endpoint and WebSocket, health checks, GraphiQL.

pub mod graphiql;
pub mod graphql;
pub mod health;
pub mod metrics;
pub mod operation;
pub mod router;
pub mod telemetry;
pub mod ws;

pub use router::{build_router, metrics_router};
