//! GraphQL object types, one module per entity.

pub mod audit;
pub mod auth;
pub mod config;
pub mod connection;
pub mod deployment;
pub mod identity_provider;
pub mod invite;
pub mod organization;
pub mod organization_domain;
pub mod rbac;
pub mod service_account;
pub mod team;
pub mod user;
pub mod workspace;
