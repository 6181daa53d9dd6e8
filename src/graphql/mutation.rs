//! The mutation root, merged from per-domain parts.

use async_graphql::MergedObject;

use crate::graphql::access::AccessMutation;
use crate::graphql::clusters::ClusterMutation;
use crate::graphql::deployments::{DeploymentMutation, VariableMutation};
use crate::graphql::identity_providers::IdentityProviderMutation;
use crate::graphql::managed_domains::ManagedDomainMutation;
use crate::graphql::organizations::OrganizationMutation;
use crate::graphql::service_accounts::ServiceAccountMutation;
use crate::graphql::teams::TeamMutation;
use crate::graphql::users::UserMutation;
use crate::graphql::workspaces::WorkspaceMutation;

/// Root of all mutations.
#[derive(MergedObject, Default)]
pub struct Mutation(
    UserMutation,
    WorkspaceMutation,
    AccessMutation,
    DeploymentMutation,
    VariableMutation,
    ServiceAccountMutation,
    OrganizationMutation,
    TeamMutation,
    ClusterMutation,
    ManagedDomainMutation,
    IdentityProviderMutation,
);
