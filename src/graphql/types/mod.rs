//! GraphQL object types, one module per entity.

pub mod auth;
pub mod config;
pub mod user;
