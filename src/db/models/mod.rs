//! One module per table: the row struct, its insert/update forms, and the queries on that table.

pub mod audit_event;
pub mod bulk;
pub mod custom_role;
pub mod deploy;
pub mod deployment;
pub mod identity;
pub mod identity_provider;
pub mod invite;
pub mod login_failure;
pub mod mail_delivery;
pub mod organization;
pub mod organization_domain;
pub mod password_reset;
pub mod principal;
pub mod role_binding;
pub mod scim;
pub mod service_account;
pub mod team;
pub mod user;
pub mod variable;
pub mod workspace;
