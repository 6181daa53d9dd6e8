//! THE role → permission matrix (SPEC §2), as one table, and the operator's overrides
//! (`CAPCOM_ROLES_FILE`) applied to it at start-up.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Deserialize;

use crate::rbac::Role;
use crate::rbac::operations::reads_needed;
use crate::rbac::permissions::Permission::{self, *};

use Role::{
    DeploymentAdmin as DA, DeploymentEditor as DE, DeploymentViewer as DV, OrganizationBillingAdmin as OB,
    OrganizationMember as OM, OrganizationOwner as OO, SystemAdmin as SA, SystemEditor as SE, SystemViewer as SV,
    WorkspaceAdmin as WA, WorkspaceEditor as WE, WorkspaceViewer as WV,
};

/// The built-in matrix: each permission and the roles granted it. `USER` holds none of them.
pub const DEFAULT_MATRIX: &[(Permission, &[Role])] = &[
    (SystemWorkspaceGet, &[SV, SE, SA]),
    (SystemDeploymentsGet, &[SV, SE, SA]),
    (SystemUsersGet, &[SV, SE, SA]),
    (SystemInvitesGet, &[SV, SE, SA]),
    (SystemServiceAccountsGet, &[SV, SE, SA]),
    (SystemOrganizationsGet, &[SV, SE, SA]),
    (SystemAuditLogsGet, &[SV, SE, SA]),
    (SystemAirflowGet, &[SV, SE, SA]),
    (SystemMonitoringGet, &[SV, SE, SA]),
    (SystemIamUpdate, &[SE, SA]),
    (SystemServiceAccountsUpdate, &[SE, SA]),
    (SystemAirflowUser, &[SE, SA]),
    (SystemDeploymentsUpdate, &[SA]),
    (SystemDeploymentsDelete, &[SA]),
    (SystemServiceAccountsCreate, &[SA]),
    (SystemServiceAccountsDelete, &[SA]),
    (SystemUserInvite, &[SA]),
    (SystemUserDelete, &[SA]),
    (SystemUserVerifyEmail, &[SA]),
    (SystemWorkspaceDelete, &[SA]),
    (SystemOrganizationsCreate, &[SA]),
    (SystemClustersUpdate, &[SA]),
    (SystemAirflowAdmin, &[SA]),
    (OrganizationConfigGet, &[OM, OB, OO]),
    (OrganizationUsersGet, &[OM, OB, OO]),
    (OrganizationTeamsGet, &[OM, OB, OO]),
    (OrganizationClustersGet, &[OM, OB, OO]),
    (OrganizationWorkspacesCreate, &[OM, OB, OO]),
    (OrganizationConfigUpdate, &[OB, OO]),
    (OrganizationBillingUpdate, &[OB, OO]),
    // Identity providers and managed domains decide who a person is (SPEC §3.1): owners only, never
    // billing admins.
    (OrganizationAuthenticationUpdate, &[OO]),
    (OrganizationIamUpdate, &[OO]),
    (OrganizationUsersInvite, &[OO]),
    (OrganizationTeamsUpdate, &[OO]),
    (OrganizationServiceAccountsGet, &[OO]),
    (OrganizationServiceAccountsCreate, &[OO]),
    (OrganizationServiceAccountsUpdate, &[OO]),
    (OrganizationServiceAccountsDelete, &[OO]),
    (OrganizationAuditLogsGet, &[OO]),
    (OrganizationClustersUpdate, &[OO]),
    // SCIM provisioning (docs/sso.md): meant for an organization API key with the owner role; not in
    // SPEC §2's table, which predates it.
    (OrganizationScimProvision, &[OO]),
    // Custom roles (docs/custom-roles.md, issue 26 §4): members see the organization's roles (to know what
    // a colleague holds, as they see its teams); owners, who hold every workspace and deployment
    // permission of the organization by implication, define them. Not in SPEC §2's table, which predates
    // them.
    (OrganizationCustomRolesGet, &[OM, OB, OO]),
    (OrganizationCustomRolesUpdate, &[OO]),
    (WorkspaceConfigGet, &[WV, WE, WA]),
    (WorkspaceUsersGet, &[WV, WE, WA]),
    (WorkspaceTeamsGet, &[WV, WE, WA]),
    (WorkspaceInvitesGet, &[WV, WE, WA]),
    (WorkspaceDeploymentsGet, &[WV, WE, WA]),
    (WorkspaceServiceAccountsGet, &[WV, WE, WA]),
    (WorkspaceConfigUpdate, &[WE, WA]),
    (WorkspaceDeploymentsCreate, &[WE, WA]),
    (WorkspaceServiceAccountsCreate, &[WE, WA]),
    (WorkspaceServiceAccountsUpdate, &[WE, WA]),
    (WorkspaceServiceAccountsDelete, &[WE, WA]),
    (WorkspaceConfigDelete, &[WA]),
    (WorkspaceIamUpdate, &[WA]),
    (WorkspaceAuditLogsGet, &[WA]),
    (DeploymentConfigGet, &[DV, DE, DA]),
    (DeploymentUsersGet, &[DV, DE, DA]),
    (DeploymentServiceAccountsGet, &[DV, DE, DA]),
    (DeploymentAirflowGet, &[DV, DE, DA]),
    (DeploymentImagesPull, &[DV, DE, DA]),
    (DeploymentConfigUpdate, &[DE, DA]),
    (DeploymentImagesPush, &[DE, DA]),
    (DeploymentAirflowUser, &[DE, DA]),
    (DeploymentServiceAccountsCreate, &[DE, DA]),
    (DeploymentServiceAccountsUpdate, &[DE, DA]),
    (DeploymentServiceAccountsDelete, &[DE, DA]),
    (DeploymentConfigDelete, &[DA]),
    (DeploymentIamUpdate, &[DA]),
    (DeploymentAirflowAdmin, &[DA]),
];

/// The matrix in force: the built-in table with the operator's overrides applied.
#[derive(Debug, Clone)]
pub struct Matrix {
    grants: BTreeMap<Role, BTreeSet<Permission>>,
}

/// Why a roles file was refused. Start-up stops with this message.
#[derive(Debug, thiserror::Error)]
#[error("roles file {path}: {message}")]
pub struct RolesFileError {
    /// The file.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleOverride {
    #[serde(default)]
    add: Vec<String>,
    #[serde(default)]
    remove: Vec<String>,
}

impl Default for Matrix {
    fn default() -> Self {
        let mut grants: BTreeMap<Role, BTreeSet<Permission>> =
            Role::ALL.iter().map(|r| (*r, BTreeSet::new())).collect();
        for (permission, roles) in DEFAULT_MATRIX {
            for role in *roles {
                grants.entry(*role).or_default().insert(*permission);
            }
        }
        Matrix { grants }
    }
}

impl Matrix {
    /// Whether `role` holds `permission`.
    pub fn grants(&self, role: Role, permission: Permission) -> bool {
        self.grants.get(&role).is_some_and(|set| set.contains(&permission))
    }

    /// The permissions of `role`, sorted.
    pub fn permissions_of(&self, role: Role) -> impl Iterator<Item = Permission> + '_ {
        self.grants.get(&role).into_iter().flatten().copied()
    }

    /// The built-in matrix with the overrides of a JSON roles file applied:
    /// `{"WORKSPACE_EDITOR": {"add": ["workspace.iam.update"], "remove": ["workspace.serviceAccounts.delete"]}}`.
    /// A permission can only be given to a role of its own scope.
    pub fn with_overrides_file(path: &Path) -> Result<Matrix, RolesFileError> {
        let error = |message: String| RolesFileError { path: path.display().to_string(), message };
        let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
        let overrides: BTreeMap<String, RoleOverride> =
            serde_json::from_str(&text).map_err(|e| error(format!("not valid JSON of the expected shape: {e}")))?;
        Matrix::default().apply(overrides).map_err(error)
    }

    fn apply(mut self, overrides: BTreeMap<String, RoleOverride>) -> Result<Matrix, String> {
        for (role_name, change) in overrides {
            let role: Role = role_name.parse().map_err(|e| format!("{e}"))?;
            let scope = role.scope().ok_or_else(|| format!("{role} is implicit and cannot hold permissions"))?;
            if role.is_custom() {
                return Err(format!("{role} stands for an organization's custom roles: change those instead"));
            }
            let set = self.grants.entry(role).or_default();
            for name in &change.add {
                let permission: Permission = name.parse().map_err(|e| format!("{e} (for {role})"))?;
                if permission.scope() != scope {
                    return Err(format!(
                        "{permission} is checked at {} scope and cannot be given to {role}",
                        permission.scope().as_str()
                    ));
                }
                set.insert(permission);
            }
            for name in &change.remove {
                let permission: Permission = name.parse().map_err(|e| format!("{e} (for {role})"))?;
                set.remove(&permission);
            }
            // A role that changes something reads what the change answers with, as a custom role must
            // (operations::reads_needed, derived from the operation table): otherwise its holders'
            // changes would be committed and then answered FORBIDDEN.
            for permission in set.iter() {
                if let Some(missing) = reads_needed(*permission).iter().find(|needed| !set.contains(needed)) {
                    return Err(format!(
                        "{role} would hold {permission} without {missing}, which reads what {permission} answers \
                         with: give {role} {missing} too, or take {permission} away"
                    ));
                }
            }
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SPEC §2's table, transcribed independently of `DEFAULT_MATRIX`: permission strings (with `a/b/c`
    /// shorthand expanded) and the role letters of the "granted to" column.
    const SPEC_TABLE: &[(&str, &str)] = &[
        (
            "system.workspace.get, system.deployments.get, system.users.get, system.invites.get, system.serviceAccounts.get, system.organizations.get, system.auditLogs.get, system.airflow.get, system.monitoring.get",
            "SV SE SA",
        ),
        ("system.iam.update, system.serviceAccounts.update, system.airflow.user", "SE SA"),
        (
            "system.deployments.update, system.deployments.delete, system.serviceAccounts.create, system.serviceAccounts.delete, system.user.invite, system.user.delete, system.user.verifyEmail, system.workspace.delete, system.organizations.create, system.clusters.update, system.airflow.admin",
            "SA",
        ),
        (
            "organization.config.get, organization.users.get, organization.teams.get, organization.clusters.get, organization.workspaces.create",
            "M B O",
        ),
        ("organization.config.update, organization.billing.update", "B O"),
        ("organization.authentication.update", "O"),
        // Added with SCIM provisioning (docs/sso.md).
        ("organization.scim.provision", "O"),
        // Added with custom roles (docs/custom-roles.md).
        ("organization.customRoles.get", "M B O"),
        ("organization.customRoles.update", "O"),
        (
            "organization.iam.update, organization.users.invite, organization.teams.update, organization.serviceAccounts.get/create/update/delete, organization.auditLogs.get, organization.clusters.update",
            "O",
        ),
        (
            "workspace.config.get, workspace.users.get, workspace.teams.get, workspace.invites.get, workspace.deployments.get, workspace.serviceAccounts.get",
            "WV WE WA",
        ),
        (
            "workspace.config.update, workspace.deployments.create, workspace.serviceAccounts.create/update/delete",
            "WE WA",
        ),
        ("workspace.config.delete, workspace.iam.update, workspace.auditLogs.get", "WA"),
        (
            "deployment.config.get, deployment.users.get, deployment.serviceAccounts.get, deployment.airflow.get, deployment.images.pull",
            "DV DE DA",
        ),
        (
            "deployment.config.update, deployment.images.push, deployment.airflow.user, deployment.serviceAccounts.create/update/delete",
            "DE DA",
        ),
        ("deployment.config.delete, deployment.iam.update, deployment.airflow.admin", "DA"),
    ];

    fn letters(letter: &str) -> Role {
        match letter {
            "SV" => SV,
            "SE" => SE,
            "SA" => SA,
            "M" => OM,
            "B" => OB,
            "O" => OO,
            "WV" => WV,
            "WE" => WE,
            "WA" => WA,
            "DV" => DV,
            "DE" => DE,
            "DA" => DA,
            other => panic!("unknown letter {other}"),
        }
    }

    fn expand(entry: &str) -> Vec<String> {
        let (stem, verbs) = entry.rsplit_once('.').unwrap_or((entry, ""));
        verbs.split('/').map(|verb| format!("{stem}.{verb}")).collect()
    }

    #[test]
    fn every_spec_permission_has_exactly_the_spec_roles() {
        let matrix = Matrix::default();
        let mut seen = BTreeSet::new();
        for (permissions, roles) in SPEC_TABLE {
            let expected: BTreeSet<Role> = roles.split_whitespace().map(letters).collect();
            for name in permissions.split(", ").flat_map(expand) {
                let permission: Permission = name.parse().unwrap_or_else(|e| panic!("{e}"));
                let actual: BTreeSet<Role> = Role::ALL.into_iter().filter(|r| matrix.grants(*r, permission)).collect();
                assert_eq!(actual, expected, "{name}");
                assert!(seen.insert(permission), "{name} listed twice");
            }
        }
        assert_eq!(seen.len(), Permission::ALL.len(), "the matrix has no permission SPEC does not list");
        assert_eq!(matrix.permissions_of(Role::User).count(), 0);
    }

    #[test]
    fn every_permission_is_granted_only_to_roles_of_its_scope() {
        let matrix = Matrix::default();
        for role in Role::ALL {
            for permission in matrix.permissions_of(role) {
                assert_eq!(Some(permission.scope()), role.scope(), "{role} holds {permission}");
            }
        }
    }

    /// The built-in roles as SPEC §2 gives them hold, with every permission that changes something, the
    /// reads its answers need (operations::reads_needed), so that a roles file is refused only for what
    /// it changes.
    #[test]
    fn every_built_in_role_reads_what_its_changes_answer_with() {
        let matrix = Matrix::default();
        for role in Role::ALL {
            let held: BTreeSet<Permission> = matrix.permissions_of(role).collect();
            for permission in &held {
                for needed in reads_needed(*permission).iter() {
                    assert!(held.contains(&needed), "{role} holds {permission} without {needed}");
                }
            }
        }
    }

    #[test]
    fn overrides_add_and_remove_and_bad_ones_are_refused() {
        let overrides: BTreeMap<String, RoleOverride> = serde_json::from_str(
            r#"{"WORKSPACE_EDITOR": {"add": ["workspace.iam.update"], "remove": ["workspace.serviceAccounts.delete"]}}"#,
        )
        .unwrap();
        let matrix = Matrix::default().apply(overrides).unwrap();
        assert!(matrix.grants(WE, WorkspaceIamUpdate));
        assert!(!matrix.grants(WE, WorkspaceServiceAccountsDelete));
        for bad in [
            r#"{"WORKSPACE_EDITOR": {"add": ["system.iam.update"]}}"#,
            r#"{"NOBODY": {"add": []}}"#,
            r#"{"WORKSPACE_CUSTOM": {"add": ["workspace.config.get"]}}"#,
            r#"{"WORKSPACE_EDITOR": {"add": ["workspace.nothing"]}}"#,
            // A role that changes a deployment reads it (it is what the change answers with).
            r#"{"DEPLOYMENT_EDITOR": {"remove": ["deployment.config.get"]}}"#,
            r#"{"DEPLOYMENT_ADMIN": {"remove": ["deployment.users.get"]}}"#,
            r#"{"ORGANIZATION_BILLING_ADMIN": {"remove": ["organization.config.get"]}}"#,
            r#"{"ORGANIZATION_OWNER": {"remove": ["organization.teams.get"]}}"#,
        ] {
            let overrides: BTreeMap<String, RoleOverride> = serde_json::from_str(bad).unwrap();
            assert!(Matrix::default().apply(overrides).is_err(), "{bad}");
        }
    }
}
