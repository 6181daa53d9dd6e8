//! Integration tests: the real server over HTTP, against real PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

mod auth;
mod binary;
mod cli_compat;
mod deployments;
mod deploys;
mod health;
mod jwt_attacks;
mod limits;
mod migrations;
mod read_checks;
mod role_matrix;
mod schema;
mod service_accounts;
mod subscriptions;
mod variables;
mod websocket;
mod workspaces;
