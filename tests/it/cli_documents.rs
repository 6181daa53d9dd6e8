//! The documents the `astro` CLI sends at API level 2.1.0, one per row of the client operations contract:
//! the same root field, argument names and types, and selection as the CLI writes them. The scenario
//! test (`cli_compat`) sends them; the test below validates every one against the checked-in
//! `schema.graphql`, so a schema change that would break the CLI fails.

// Mutations.
pub const ADOPT_DEPLOYMENT: &str = "mutation AdoptDeployment($workspaceUuid: Uuid!, $clusterId: Uuid!, $crNamespace: String!, $crName: String!, $label: String, $description: String, $useApcLogging: Boolean, $useApcRegistry: Boolean, $acceptIncompatibilities: Boolean) { adoptDeployment(workspaceUuid: $workspaceUuid, clusterId: $clusterId, crNamespace: $crNamespace, crName: $crName, label: $label, description: $description, useApcLogging: $useApcLogging, useApcRegistry: $useApcRegistry, acceptIncompatibilities: $acceptIncompatibilities) { id label releaseName namespace clusterId workspace { id } createdAt updatedAt } }";
pub const CANCEL_RUNTIME_UPDATE: &str = "mutation CancelUpdateDeploymentRuntime($deploymentUuid: Uuid!) { cancelRuntimeUpdate(deploymentUuid: $deploymentUuid) { id label version releaseName runtimeVersion desiredRuntimeVersion runtimeAirflowVersion } }";
pub const CREATE_DEPLOYMENT_SERVICE_ACCOUNT: &str = "mutation CreateDeploymentServiceAccount($label: String!, $category: String, $deploymentUuid: Uuid!, $role: Role!) { createDeploymentServiceAccount(label: $label, category: $category, deploymentUuid: $deploymentUuid, role: $role) { id label apiKey entityType deploymentUuid category active lastUsedAt createdAt updatedAt } }";
pub const CREATE_TEAM_SYSTEM_ROLE_BINDING: &str = "mutation createTeamSystemRoleBinding($teamUuid: Uuid!, $role: Role!) { createTeamSystemRoleBinding(teamUuid: $teamUuid, role: $role) { role } }";
pub const CREATE_TOKEN: &str = "mutation createBasicToken($identity: String, $password: String!) { createToken(identity: $identity, password: $password) { user { id fullName username status createdAt updatedAt } token { value } } }";
pub const CREATE_USER: &str = "mutation CreateUser($email: String!, $password: String!, $username: String, $inviteToken: String) { createUser(email: $email, password: $password, username: $username, inviteToken: $inviteToken) { user { id username status createdAt updatedAt } token { value } } }";
pub const CREATE_WORKSPACE: &str = "mutation CreateWorkspace($label: String!, $description: String) { createWorkspace(label: $label, description: $description) { id label description createdAt updatedAt } }";
pub const CREATE_WORKSPACE_SERVICE_ACCOUNT: &str = "mutation CreateWorkspaceServiceAccount($label: String!, $category: String, $workspaceUuid: Uuid!, $role: Role!) { createWorkspaceServiceAccount(label: $label, category: $category, workspaceUuid: $workspaceUuid, role: $role) { id label apiKey entityType workspaceUuid category active lastUsedAt createdAt updatedAt } }";
pub const DELETE_DEPLOYMENT: &str = "mutation DeleteDeployment($deploymentUuid: Uuid!, $deploymentHardDelete: Boolean) { deleteDeployment(deploymentUuid: $deploymentUuid, deploymentHardDelete: $deploymentHardDelete) { id type label description releaseName version workspace { id } createdAt updatedAt } }";
pub const DELETE_DEPLOYMENT_SERVICE_ACCOUNT: &str = "mutation DeleteDeploymentServiceAccount($serviceAccountUuid: Uuid!, $deploymentUuid: Uuid!) { deleteDeploymentServiceAccount(serviceAccountUuid: $serviceAccountUuid, deploymentUuid: $deploymentUuid) { id apiKey label category entityType entityUuid active createdAt updatedAt lastUsedAt } }";
pub const DELETE_TEAM_SYSTEM_ROLE_BINDING: &str = "mutation deleteTeamSystemRoleBinding($teamUuid: Uuid!, $role: Role!) { deleteTeamSystemRoleBinding(teamUuid: $teamUuid, role: $role) { role } }";
pub const DELETE_WORKSPACE: &str = "mutation DeleteWorkspace($workspaceUuid: Uuid!) { deleteWorkspace(workspaceUuid: $workspaceUuid) { id label description } }";
pub const DELETE_WORKSPACE_SERVICE_ACCOUNT: &str = "mutation DeleteWorkspaceServiceAccount($serviceAccountUuid: Uuid!, $workspaceUuid: Uuid!) { deleteWorkspaceServiceAccount(serviceAccountUuid: $serviceAccountUuid, workspaceUuid: $workspaceUuid) { id apiKey label category entityType entityUuid active createdAt updatedAt lastUsedAt } }";
pub const DEPLOYMENT_ADD_TEAM_ROLE: &str = "mutation deploymentAddTeamRole($teamUuid: Uuid!, $deploymentUuid: Uuid!, $role: Role!) { deploymentAddTeamRole(teamUuid: $teamUuid, deploymentUuid: $deploymentUuid, role: $role) { id role } }";
pub const DEPLOYMENT_ADD_USER_ROLE: &str = "mutation AddDeploymentUser($userId: Id, $email: String!, $deploymentId: Id!, $role: Role!) { deploymentAddUserRole(userId: $userId, email: $email, deploymentId: $deploymentId, role: $role) { id user { username } role deployment { id releaseName } } }";
pub const DEPLOYMENT_REMOVE_TEAM_ROLE: &str = "mutation deploymentRemoveTeamRole($deploymentUuid: Uuid!, $teamUuid: Uuid!) { deploymentRemoveTeamRole(deploymentUuid: $deploymentUuid, teamUuid: $teamUuid) { id } }";
pub const DEPLOYMENT_REMOVE_USER_ROLE: &str = "mutation DeleteDeploymentUser($userId: Id, $email: String!, $deploymentId: Id!) { deploymentRemoveUserRole(userId: $userId, email: $email, deploymentId: $deploymentId) { id role } }";
pub const DEPLOYMENT_UPDATE_TEAM_ROLE: &str = "mutation deploymentUpdateTeamRole($deploymentUuid: Uuid!, $teamUuid: Uuid!, $role: Role!) { deploymentUpdateTeamRole(deploymentUuid: $deploymentUuid, teamUuid: $teamUuid, role: $role) { id role } }";
pub const DEPLOYMENT_UPDATE_USER_ROLE: &str = "mutation UpdateDeploymentUser($userId: Id, $email: String!, $deploymentId: Id!, $role: Role!) { deploymentUpdateUserRole(userId: $userId, email: $email, deploymentId: $deploymentId, role: $role) { id user { username } role deployment { id releaseName } } }";
pub const UNADOPT_DEPLOYMENT: &str = "mutation UnadoptDeployment($deploymentUuid: Uuid!) { unadoptDeployment(deploymentUuid: $deploymentUuid) { id label releaseName namespace clusterId workspace { id } } }";
pub const UPDATE_DEPLOYMENT_AIRFLOW: &str = "mutation UpdateDeploymentAirflow($deploymentUuid: Uuid!, $desiredAirflowVersion: String!) { updateDeploymentAirflow(deploymentUuid: $deploymentUuid, desiredAirflowVersion: $desiredAirflowVersion) { id label version releaseName airflowVersion desiredAirflowVersion } }";
pub const UPDATE_DEPLOYMENT_RUNTIME: &str = "mutation UpdateDeploymentRuntime($deploymentUuid: Uuid!, $desiredRuntimeVersion: String!) { updateDeploymentRuntime(deploymentUuid: $deploymentUuid, desiredRuntimeVersion: $desiredRuntimeVersion) { id label version releaseName runtimeVersion desiredRuntimeVersion runtimeAirflowVersion } }";
pub const UPDATE_WORKSPACE: &str = "mutation UpdateWorkspace($workspaceUuid: Uuid!, $payload: JSON!) { updateWorkspace(workspaceUuid: $workspaceUuid, payload: $payload) { id label description createdAt updatedAt } }";
pub const UPSERT_DEPLOYMENT_CREATE: &str = "mutation upsertDeployment($workspaceUuid: Uuid, $clusterId: Uuid, $label: String, $releaseName: String, $namespace: String, $runtimeVersion: String, $executor: ExecutorType, $triggererReplicas: Int, $dagDeployment: DagDeployment, $cloudRole: String, $mode: AllowedDeploymentModeValues) { upsertDeployment(workspaceUuid: $workspaceUuid, clusterId: $clusterId, label: $label, releaseName: $releaseName, namespace: $namespace, runtimeVersion: $runtimeVersion, executor: $executor, triggerer: {replicas: $triggererReplicas}, dagDeployment: $dagDeployment, cloudRole: $cloudRole, mode: $mode) { id type label releaseName version runtimeVersion urls { type url } createdAt updatedAt } }";
pub const UPSERT_DEPLOYMENT_UPDATE: &str = "mutation upsertDeployment($deploymentUuid: Uuid!, $label: String, $description: String, $executor: ExecutorType, $triggererReplicas: Int, $dagDeployment: DagDeployment, $cloudRole: String) { upsertDeployment(deploymentUuid: $deploymentUuid, label: $label, description: $description, executor: $executor, triggerer: {replicas: $triggererReplicas}, dagDeployment: $dagDeployment, cloudRole: $cloudRole) { id type label releaseName version runtimeVersion urls { type url } createdAt updatedAt } }";
pub const UPSERT_DEPLOYMENT_IMAGE: &str = "mutation upsertDeployment($releaseName: String!, $image: String!, $runtimeVersion: String!) { upsertDeployment(releaseName: $releaseName, image: $image, runtimeVersion: $runtimeVersion) { id releaseName runtimeVersion } }";
pub const WORKSPACE_ADD_TEAM: &str = "mutation AddWorkspaceTeam($workspaceUuid: Uuid!, $teamUuid: Uuid!, $role: Role!, $deploymentRoles: [DeploymentRoles!]) { workspaceAddTeam(workspaceUuid: $workspaceUuid, teamUuid: $teamUuid, role: $role, deploymentRoles: $deploymentRoles) { id label description createdAt updatedAt } }";
pub const WORKSPACE_ADD_USER: &str = "mutation AddWorkspaceUser($workspaceUuid: Uuid!, $email: String!, $role: Role!) { workspaceAddUser(workspaceUuid: $workspaceUuid, email: $email, role: $role) { id label description users { id username roleBindings { role } } createdAt updatedAt } }";
pub const WORKSPACE_REMOVE_TEAM: &str = "mutation DeleteWorkspaceTeam($workspaceUuid: Uuid!, $teamUuid: Uuid!) { workspaceRemoveTeam(workspaceUuid: $workspaceUuid, teamUuid: $teamUuid) { id label } }";
pub const WORKSPACE_REMOVE_USER: &str = "mutation DeleteWorkspaceUser($workspaceUuid: Uuid!, $userUuid: Uuid!) { workspaceRemoveUser(workspaceUuid: $workspaceUuid, userUuid: $userUuid) { id label description users { id username } createdAt updatedAt } }";
pub const WORKSPACE_UPDATE_TEAM_ROLE: &str = "mutation workspaceUpdateTeamRole($workspaceUuid: Uuid!, $teamUuid: Uuid!, $role: Role!) { workspaceUpdateTeamRole(workspaceUuid: $workspaceUuid, teamUuid: $teamUuid, role: $role) }";
pub const WORKSPACE_UPSERT_USER_ROLE: &str = "mutation workspaceUpsertUserRole($workspaceUuid: Uuid!, $email: String!, $role: Role!) { workspaceUpsertUserRole(workspaceUuid: $workspaceUuid, email: $email, role: $role) }";

// Queries.
pub const APP_CONFIG_FOR: &str = "query AppConfig($clusterId: Uuid, $workspaceUuid: Uuid, $deploymentUuid: Uuid) { appConfig(clusterId: $clusterId, workspaceUuid: $workspaceUuid, deploymentUuid: $deploymentUuid) { version baseDomain byoUpdateRegistryHost smtpConfigured featureFlags } }";
pub const APP_CONFIG: &str = "query AppConfig { appConfig { version } }";
pub const AUTH_CONFIG: &str = "query GetAuthConfig($redirect: String) { authConfig(redirect: $redirect) { localEnabled publicSignup initialSignup providers { name displayName url } } }";
pub const AVAILABLE_NAMESPACES: &str =
    "query availableNamespaces($clusterId: Uuid!) { availableNamespaces(clusterId: $clusterId) { name } }";
pub const DEPLOYMENT: &str = "query GetDeployment($id: String!) { deployment(where: {id: $id}) { id runtimeVersion runtimeAirflowVersion releaseName urls { type url } dagDeployment { type } clusterId } }";
pub const DEPLOYMENT_CONFIG: &str = "query GetDeploymentConfig { deploymentConfig { __typename } }";
pub const DEPLOYMENT_SERVICE_ACCOUNTS: &str = "query GetDeploymentServiceAccounts($deploymentUuid: Uuid!) { deploymentServiceAccounts(deploymentUuid: $deploymentUuid) { id apiKey label category entityType entityUuid active createdAt updatedAt lastUsedAt } }";
pub const DEPLOYMENT_TEAMS: &str = "query deploymentTeams($deploymentUuid: Uuid!) { deploymentTeams(deploymentUuid: $deploymentUuid) { id name roleBindings { role workspace { id label } deployment { id label } } } }";
pub const DEPLOYMENT_USERS: &str = "query GetDeploymentUsers($deploymentId: Id!, $user: UserSearch) { deploymentUsers(deploymentId: $deploymentId, user: $user) { id fullName username roleBindings { role deployment { id } } } }";
pub const LOGS: &str = "query GetLogs($deploymentUuid: Uuid!, $component: String, $timestamp: DateTime, $search: String) { logs(deploymentUuid: $deploymentUuid, component: $component, timestamp: $timestamp, search: $search) { id createdAt: timestamp log: message } }";
pub const PAGINATED_DEPLOYMENTS: &str = "query paginatedDeployments($take: Int, $name: String, $cursor: Uuid, $pageNumber: Int, $clusterId: Uuid) { paginatedDeployments(take: $take, name: $name, cursor: $cursor, pageNumber: $pageNumber, clusterId: $clusterId) { id type label releaseName workspace { id } deployInfo { nextCli current } version runtimeVersion clusterId createdAt updatedAt } }";
pub const PAGINATED_TEAMS: &str = "query paginatedTeams($take: Int, $cursor: Uuid, $workspaceUuid: Uuid) { paginatedTeams(take: $take, cursor: $cursor, workspaceUuid: $workspaceUuid) { count teams { id name roleBindings { role } } } }";
pub const PAGINATED_WORKSPACE_USERS: &str = "query paginatedWorkspaceUsers($workspaceUuid: Uuid!, $cursor: Uuid, $take: Int) { paginatedWorkspaceUsers(workspaceUuid: $workspaceUuid, cursor: $cursor, take: $take) { id username fullName emails { address } roleBindings { workspace { id } role } } }";
pub const PAGINATED_WORKSPACES: &str = "query paginatedWorkspaces($take: Int, $pageNumber: Int) { paginatedWorkspaces(take: $take, pageNumber: $pageNumber) { id label description createdAt updatedAt } }";
pub const RUNTIME_RELEASES: &str = "query runtimeReleases($airflowVersion: String, $clusterId: Uuid) { runtimeReleases(airflowVersion: $airflowVersion, clusterId: $clusterId) { version airflowVersion airflowDatabaseMigrations } }";
pub const TEAM: &str = "query team($teamUuid: Uuid!, $workspaceUuid: Uuid) { team(teamUuid: $teamUuid, workspaceUuid: $workspaceUuid) { name id createdAt roleBindings { id role workspace { id label } deployment { id label releaseName } } } }";
pub const TEAM_USERS: &str = "query teamUsers($teamUuid: Uuid!) { teamUsers(teamUuid: $teamUuid) { username id emails { address verified primary } status } }";
pub const WORKSPACE: &str = "query GetWorkspace($workspaceUuid: Uuid!) { workspace(workspaceUuid: $workspaceUuid) { id label description createdAt updatedAt } }";
pub const WORKSPACE_WITH_ROLES: &str = "query GetWorkspace($workspaceUuid: Uuid!) { workspace(workspaceUuid: $workspaceUuid) { id label description createdAt updatedAt roleBindings { role user { id username } serviceAccount { id label } } } }";
pub const WORKSPACE_DEPLOYMENTS: &str = "query GetDeployment($workspaceUuid: Uuid!, $releaseName: String) { workspaceDeployments(workspaceUuid: $workspaceUuid, releaseName: $releaseName) { id type label releaseName workspace { id } deployInfo { nextCli current } version runtimeVersion clusterId createdAt updatedAt } }";
pub const WORKSPACE_SERVICE_ACCOUNTS: &str = "query GetWorkspaceServiceAccount($workspaceUuid: Uuid!) { workspaceServiceAccounts(workspaceUuid: $workspaceUuid) { id apiKey label category entityType entityUuid active createdAt updatedAt lastUsedAt } }";
pub const WORKSPACE_TEAMS: &str = "query workspaceTeams($workspaceUuid: Uuid!) { workspaceTeams(workspaceUuid: $workspaceUuid) { id name roleBindings { role workspace { id label } deployment { id label } } } }";
pub const WORKSPACE_USER: &str = "query GetWorkspaceUser($workspaceUuid: Uuid!, $email: String!) { workspaceUser(workspaceUuid: $workspaceUuid, user: {email: $email}) { id username roleBindings { workspace { id } role } } }";
pub const WORKSPACE_USERS: &str = "query GetWorkspaceUsers($workspaceUuid: Uuid!) { workspaceUsers(workspaceUuid: $workspaceUuid) { id username fullName emails { address } roleBindings { workspace { id } role } } }";
pub const WORKSPACES: &str = "query GetWorkspaces { workspaces { id label description createdAt updatedAt roleBindings { role user { id username } serviceAccount { id label } } } }";

// Subscriptions.
pub const LOG_SUBSCRIPTION: &str = "subscription log($deploymentUuid: Uuid!, $component: String, $timestamp: DateTime, $search: String) { log(deploymentUuid: $deploymentUuid, component: $component, timestamp: $timestamp, search: $search) { id createdAt: timestamp log: message } }";

/// Every document, named after its constant.
pub const ALL: &[(&str, &str)] = &[
    ("ADOPT_DEPLOYMENT", ADOPT_DEPLOYMENT),
    ("CANCEL_RUNTIME_UPDATE", CANCEL_RUNTIME_UPDATE),
    ("CREATE_DEPLOYMENT_SERVICE_ACCOUNT", CREATE_DEPLOYMENT_SERVICE_ACCOUNT),
    ("CREATE_TEAM_SYSTEM_ROLE_BINDING", CREATE_TEAM_SYSTEM_ROLE_BINDING),
    ("CREATE_TOKEN", CREATE_TOKEN),
    ("CREATE_USER", CREATE_USER),
    ("CREATE_WORKSPACE", CREATE_WORKSPACE),
    ("CREATE_WORKSPACE_SERVICE_ACCOUNT", CREATE_WORKSPACE_SERVICE_ACCOUNT),
    ("DELETE_DEPLOYMENT", DELETE_DEPLOYMENT),
    ("DELETE_DEPLOYMENT_SERVICE_ACCOUNT", DELETE_DEPLOYMENT_SERVICE_ACCOUNT),
    ("DELETE_TEAM_SYSTEM_ROLE_BINDING", DELETE_TEAM_SYSTEM_ROLE_BINDING),
    ("DELETE_WORKSPACE", DELETE_WORKSPACE),
    ("DELETE_WORKSPACE_SERVICE_ACCOUNT", DELETE_WORKSPACE_SERVICE_ACCOUNT),
    ("DEPLOYMENT_ADD_TEAM_ROLE", DEPLOYMENT_ADD_TEAM_ROLE),
    ("DEPLOYMENT_ADD_USER_ROLE", DEPLOYMENT_ADD_USER_ROLE),
    ("DEPLOYMENT_REMOVE_TEAM_ROLE", DEPLOYMENT_REMOVE_TEAM_ROLE),
    ("DEPLOYMENT_REMOVE_USER_ROLE", DEPLOYMENT_REMOVE_USER_ROLE),
    ("DEPLOYMENT_UPDATE_TEAM_ROLE", DEPLOYMENT_UPDATE_TEAM_ROLE),
    ("DEPLOYMENT_UPDATE_USER_ROLE", DEPLOYMENT_UPDATE_USER_ROLE),
    ("UNADOPT_DEPLOYMENT", UNADOPT_DEPLOYMENT),
    ("UPDATE_DEPLOYMENT_AIRFLOW", UPDATE_DEPLOYMENT_AIRFLOW),
    ("UPDATE_DEPLOYMENT_RUNTIME", UPDATE_DEPLOYMENT_RUNTIME),
    ("UPDATE_WORKSPACE", UPDATE_WORKSPACE),
    ("UPSERT_DEPLOYMENT_CREATE", UPSERT_DEPLOYMENT_CREATE),
    ("UPSERT_DEPLOYMENT_UPDATE", UPSERT_DEPLOYMENT_UPDATE),
    ("UPSERT_DEPLOYMENT_IMAGE", UPSERT_DEPLOYMENT_IMAGE),
    ("WORKSPACE_ADD_TEAM", WORKSPACE_ADD_TEAM),
    ("WORKSPACE_ADD_USER", WORKSPACE_ADD_USER),
    ("WORKSPACE_REMOVE_TEAM", WORKSPACE_REMOVE_TEAM),
    ("WORKSPACE_REMOVE_USER", WORKSPACE_REMOVE_USER),
    ("WORKSPACE_UPDATE_TEAM_ROLE", WORKSPACE_UPDATE_TEAM_ROLE),
    ("WORKSPACE_UPSERT_USER_ROLE", WORKSPACE_UPSERT_USER_ROLE),
    ("APP_CONFIG_FOR", APP_CONFIG_FOR),
    ("APP_CONFIG", APP_CONFIG),
    ("AUTH_CONFIG", AUTH_CONFIG),
    ("AVAILABLE_NAMESPACES", AVAILABLE_NAMESPACES),
    ("DEPLOYMENT", DEPLOYMENT),
    ("DEPLOYMENT_CONFIG", DEPLOYMENT_CONFIG),
    ("DEPLOYMENT_SERVICE_ACCOUNTS", DEPLOYMENT_SERVICE_ACCOUNTS),
    ("DEPLOYMENT_TEAMS", DEPLOYMENT_TEAMS),
    ("DEPLOYMENT_USERS", DEPLOYMENT_USERS),
    ("LOGS", LOGS),
    ("PAGINATED_DEPLOYMENTS", PAGINATED_DEPLOYMENTS),
    ("PAGINATED_TEAMS", PAGINATED_TEAMS),
    ("PAGINATED_WORKSPACE_USERS", PAGINATED_WORKSPACE_USERS),
    ("PAGINATED_WORKSPACES", PAGINATED_WORKSPACES),
    ("RUNTIME_RELEASES", RUNTIME_RELEASES),
    ("TEAM", TEAM),
    ("TEAM_USERS", TEAM_USERS),
    ("WORKSPACE", WORKSPACE),
    ("WORKSPACE_WITH_ROLES", WORKSPACE_WITH_ROLES),
    ("WORKSPACE_DEPLOYMENTS", WORKSPACE_DEPLOYMENTS),
    ("WORKSPACE_SERVICE_ACCOUNTS", WORKSPACE_SERVICE_ACCOUNTS),
    ("WORKSPACE_TEAMS", WORKSPACE_TEAMS),
    ("WORKSPACE_USER", WORKSPACE_USER),
    ("WORKSPACE_USERS", WORKSPACE_USERS),
    ("WORKSPACES", WORKSPACES),
    ("LOG_SUBSCRIPTION", LOG_SUBSCRIPTION),
];

/// Validates `document` against the schema: field names, argument names and types, variable usage,
/// selections on leaves and objects, input-object fields and enum values (GraphQL spec §5, as
/// apollo-compiler implements it). Returns the errors as text.
pub fn validation_errors(
    schema: &apollo_compiler::validation::Valid<apollo_compiler::Schema>,
    name: &str,
    document: &str,
) -> Option<String> {
    match apollo_compiler::ExecutableDocument::parse_and_validate(schema, document, name) {
        Ok(_) => None,
        Err(with_errors) => Some(with_errors.errors.to_string()),
    }
}

/// The checked-in `schema.graphql`, validated as a schema.
pub fn checked_in_schema() -> apollo_compiler::validation::Valid<apollo_compiler::Schema> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql");
    let sdl = std::fs::read_to_string(path).expect("schema.graphql is readable");
    apollo_compiler::Schema::parse_and_validate(sdl, "schema.graphql")
        .unwrap_or_else(|invalid| panic!("schema.graphql is a valid schema:\n{}", invalid.errors))
}

#[test]
fn every_cli_document_validates_against_schema_graphql() {
    let schema = checked_in_schema();
    let failures: Vec<String> = ALL
        .iter()
        .filter_map(|(name, document)| validation_errors(&schema, name, document).map(|e| format!("{name}:\n{e}")))
        .collect();
    assert!(failures.is_empty(), "{} CLI documents do not validate:\n{}", failures.len(), failures.join("\n"));
}

/// The checker is a real one: each kind of mistake a schema change could cause is caught.
#[test]
fn the_document_checker_catches_what_would_break_the_cli() {
    let schema = checked_in_schema();
    let broken = [
        ("unknown root field", "query { noSuchField { id } }"),
        ("unknown selected field", "query($w: Uuid!) { workspace(workspaceUuid: $w) { id noSuchField } }"),
        ("unknown argument", "query($w: Uuid!) { workspace(workspaceUuid: $w, nope: 1) { id } }"),
        ("argument of another type", "query($w: String!) { workspace(workspaceUuid: $w) { id } }"),
        ("nullable variable for a required argument", "query($w: Uuid) { workspace(workspaceUuid: $w) { id } }"),
        ("missing required argument", "query { workspace { id } }"),
        ("object without selection", "query($w: Uuid!) { workspace(workspaceUuid: $w) }"),
        ("unknown input field", "query($id: String!) { deployment(where: {id: $id, nope: 1}) { id } }"),
        (
            "unknown enum value",
            "mutation($w: Uuid!) { workspaceAddUser(workspaceUuid: $w, email: \"a@b.c\", role: NOPE) { id } }",
        ),
        ("undeclared variable", "query { workspace(workspaceUuid: $w) { id } }"),
    ];
    for (what, document) in broken {
        assert!(validation_errors(&schema, what, document).is_some(), "{what} was not caught");
    }
}
