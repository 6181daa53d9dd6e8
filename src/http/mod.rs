//! HTTP transport: routes, the GraphQL endpoint and WebSocket, health checks, GraphiQL.

pub mod audit_export;
pub mod graphiql;
pub mod graphql;
pub mod health;
pub mod router;
pub mod ws;

pub use router::build_router;
