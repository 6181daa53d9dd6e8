//! GraphQL object types, one module per entity.

pub mod auth;
pub mod config;
pub mod deployment;
pub mod invite;
pub mod rbac;
pub mod service_account;
pub mod user;
pub mod workspace;
