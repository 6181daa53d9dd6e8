//! Integration tests: the real server over HTTP, against real PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

mod abuse;
mod attacks;
mod auth;
mod binary;
mod budget;
mod cli_compat;
mod cli_documents;
mod console;
mod cors;
mod deadlines;
mod deployments;
mod deploys;
mod domains;
mod escalation;
mod expectations;
mod faults;
mod fuzz;
mod health;
mod http;
mod jwt_attacks;
mod limits;
mod logs;
mod mail;
mod metrics;
mod migrations;
mod oidc;
mod organizations;
mod read_checks;
mod replicas;
mod role_matrix;
mod schema;
mod scim;
mod seed;
mod service_accounts;
mod sign_in_load;
mod subscriptions;
mod variables;
mod websocket;
mod workspaces;
