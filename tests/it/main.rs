//! Integration tests: the real server over HTTP, against real PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

mod abuse;
mod astro_cli;
mod auth;
mod binary;
mod budget;
mod capabilities;
mod cli_compat;
mod cli_documents;
mod console;
mod console_flows;
mod cors;
mod cost;
mod deadlines;
mod deployments;
mod deploys;
mod docs_examples;
mod domains;
mod faults;
mod fuzz;
mod grants;
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
mod passwords;
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
