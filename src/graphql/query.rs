//! The query root, merged from per-domain parts.

use async_graphql::MergedObject;

use crate::graphql::access::AccessQuery;
use crate::graphql::audit::AuditQuery;
use crate::graphql::config::ConfigQuery;
use crate::graphql::deployments::{DeploymentQuery, VariableQuery};
use crate::graphql::identity_providers::IdentityProviderQuery;
use crate::graphql::managed_domains::ManagedDomainQuery;
use crate::graphql::organizations::OrganizationQuery;
use crate::graphql::service_accounts::ServiceAccountQuery;
use crate::graphql::teams::TeamQuery;
use crate::graphql::users::UserQuery;
use crate::graphql::workspaces::WorkspaceQuery;

/// Root of all queries.
#[derive(MergedObject, Default)]
pub struct Query(
    UserQuery,
    ConfigQuery,
    WorkspaceQuery,
    AccessQuery,
    DeploymentQuery,
    VariableQuery,
    ServiceAccountQuery,
    OrganizationQuery,
    TeamQuery,
    AuditQuery,
    ManagedDomainQuery,
    IdentityProviderQuery,
);
