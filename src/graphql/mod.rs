//! The GraphQL schema: types, resolvers, loaders and the policies applied to every request. Transport
//! (HTTP, WebSocket) lives in `crate::http`; business rules in `crate::domain`.

pub mod access;
pub mod allowance;
pub mod audit;
pub mod authz;
pub mod budget;
pub mod clusters;
pub mod config;
pub mod context;
pub mod deployments;
pub mod errors;
pub mod identity_providers;
pub mod introspection_cost;
pub mod limits;
pub mod loaders;
pub mod managed_domains;
pub mod mutation;
pub mod order;
pub mod organizations;
pub mod payload;
pub mod persisted;
pub mod query;
pub mod scalars;
pub mod schema;
pub mod service_accounts;
pub mod subscription;
pub mod teams;
pub mod types;
pub mod users;
pub mod workspaces;

pub use context::RequestMeta;
pub use schema::{CapcomSchema, GraphqlService, build_schema, sdl};
