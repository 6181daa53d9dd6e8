-- Who may do what: service accounts, role bindings, invites; and deploys, which name their actor.

CREATE TABLE service_accounts (
    id uuid PRIMARY KEY,
    label text NOT NULL CHECK (length(label) BETWEEN 1 AND 255),
    category text CHECK (category IS NULL OR length(category) <= 255),
    scope text NOT NULL CHECK (scope IN ('SYSTEM', 'ORGANIZATION', 'WORKSPACE', 'DEPLOYMENT')),
    organization_id uuid REFERENCES organizations (id) ON DELETE CASCADE,
    workspace_id uuid REFERENCES workspaces (id) ON DELETE CASCADE,
    deployment_id uuid REFERENCES deployments (id) ON DELETE CASCADE,
    -- Public, non-secret part of the key used to find the row; the key itself is stored only hashed.
    key_prefix text NOT NULL CHECK (length(key_prefix) BETWEEN 8 AND 64),
    key_hash bytea NOT NULL CHECK (length(key_hash) = 32),
    active boolean NOT NULL DEFAULT true,
    expires_at timestamptz,
    last_used_at timestamptz,
    created_by uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK (CASE scope
        WHEN 'SYSTEM' THEN num_nonnulls(organization_id, workspace_id, deployment_id) = 0
        WHEN 'ORGANIZATION' THEN organization_id IS NOT NULL AND workspace_id IS NULL AND deployment_id IS NULL
        WHEN 'WORKSPACE' THEN workspace_id IS NOT NULL AND organization_id IS NULL AND deployment_id IS NULL
        WHEN 'DEPLOYMENT' THEN deployment_id IS NOT NULL AND organization_id IS NULL AND workspace_id IS NULL
    END)
);
CREATE UNIQUE INDEX service_accounts_key_prefix_key ON service_accounts (key_prefix);
-- Labels are unique within one scope object.
CREATE UNIQUE INDEX service_accounts_scope_label_key ON service_accounts
    (scope, coalesce(organization_id, workspace_id, deployment_id), lower(label)) NULLS NOT DISTINCT;
CREATE INDEX service_accounts_organization_id_idx ON service_accounts (organization_id);
CREATE INDEX service_accounts_workspace_id_idx ON service_accounts (workspace_id);
CREATE INDEX service_accounts_deployment_id_idx ON service_accounts (deployment_id);

CREATE TABLE role_bindings (
    id uuid PRIMARY KEY,
    role text NOT NULL CHECK (role IN (
        'SYSTEM_ADMIN', 'SYSTEM_EDITOR', 'SYSTEM_VIEWER',
        'ORGANIZATION_OWNER', 'ORGANIZATION_BILLING_ADMIN', 'ORGANIZATION_MEMBER',
        'WORKSPACE_ADMIN', 'WORKSPACE_EDITOR', 'WORKSPACE_VIEWER',
        'DEPLOYMENT_ADMIN', 'DEPLOYMENT_EDITOR', 'DEPLOYMENT_VIEWER')),
    user_id uuid REFERENCES users (id) ON DELETE CASCADE,
    team_id uuid REFERENCES teams (id) ON DELETE CASCADE,
    service_account_id uuid REFERENCES service_accounts (id) ON DELETE CASCADE,
    scope text NOT NULL CHECK (scope IN ('SYSTEM', 'ORGANIZATION', 'WORKSPACE', 'DEPLOYMENT')),
    organization_id uuid REFERENCES organizations (id) ON DELETE CASCADE,
    workspace_id uuid REFERENCES workspaces (id) ON DELETE CASCADE,
    deployment_id uuid REFERENCES deployments (id) ON DELETE CASCADE,
    created_by uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    -- Exactly one principal.
    CHECK (num_nonnulls(user_id, team_id, service_account_id) = 1),
    -- Exactly the scope column that the scope names.
    CHECK (CASE scope
        WHEN 'SYSTEM' THEN num_nonnulls(organization_id, workspace_id, deployment_id) = 0
        WHEN 'ORGANIZATION' THEN organization_id IS NOT NULL AND workspace_id IS NULL AND deployment_id IS NULL
        WHEN 'WORKSPACE' THEN workspace_id IS NOT NULL AND organization_id IS NULL AND deployment_id IS NULL
        WHEN 'DEPLOYMENT' THEN deployment_id IS NOT NULL AND organization_id IS NULL AND workspace_id IS NULL
    END),
    -- The role belongs to the scope (a workspace binding holds a WORKSPACE_* role).
    CHECK (starts_with(role, scope || '_'))
);
-- One binding per principal and scope object.
CREATE UNIQUE INDEX role_bindings_principal_scope_key ON role_bindings
    (user_id, team_id, service_account_id, scope, organization_id, workspace_id, deployment_id) NULLS NOT DISTINCT;
CREATE INDEX role_bindings_user_id_idx ON role_bindings (user_id) WHERE user_id IS NOT NULL;
CREATE INDEX role_bindings_team_id_idx ON role_bindings (team_id) WHERE team_id IS NOT NULL;
CREATE INDEX role_bindings_service_account_id_idx ON role_bindings (service_account_id)
    WHERE service_account_id IS NOT NULL;
CREATE INDEX role_bindings_organization_id_idx ON role_bindings (organization_id) WHERE organization_id IS NOT NULL;
CREATE INDEX role_bindings_workspace_id_idx ON role_bindings (workspace_id) WHERE workspace_id IS NOT NULL;
CREATE INDEX role_bindings_deployment_id_idx ON role_bindings (deployment_id) WHERE deployment_id IS NOT NULL;
CREATE INDEX role_bindings_system_role_idx ON role_bindings (role) WHERE scope = 'SYSTEM';

CREATE TABLE invites (
    id uuid PRIMARY KEY,
    email text NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 320),
    -- SYSTEM: an invitation to sign up at all (inviteUser); ORGANIZATION / WORKSPACE: a pending membership.
    scope text NOT NULL CHECK (scope IN ('SYSTEM', 'ORGANIZATION', 'WORKSPACE')),
    organization_id uuid REFERENCES organizations (id) ON DELETE CASCADE,
    workspace_id uuid REFERENCES workspaces (id) ON DELETE CASCADE,
    role text CHECK (role IS NULL OR starts_with(role, scope || '_')),
    -- [{"deploymentId": uuid, "role": "DEPLOYMENT_…"}] applied together with the workspace role.
    deployment_roles jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(deployment_roles) = 'array'),
    token_hash bytea NOT NULL CHECK (length(token_hash) = 32),
    expires_at timestamptz NOT NULL,
    invited_by uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (CASE scope
        WHEN 'SYSTEM' THEN organization_id IS NULL AND workspace_id IS NULL AND role IS NULL
        WHEN 'ORGANIZATION' THEN organization_id IS NOT NULL AND workspace_id IS NULL AND role IS NOT NULL
        WHEN 'WORKSPACE' THEN workspace_id IS NOT NULL AND organization_id IS NULL AND role IS NOT NULL
    END)
);
CREATE UNIQUE INDEX invites_token_hash_key ON invites (token_hash);
-- One pending invite per (email, scope object).
CREATE UNIQUE INDEX invites_email_scope_key ON invites (email, scope, organization_id, workspace_id) NULLS NOT DISTINCT;
CREATE INDEX invites_workspace_id_idx ON invites (workspace_id) WHERE workspace_id IS NOT NULL;
CREATE INDEX invites_organization_id_idx ON invites (organization_id) WHERE organization_id IS NOT NULL;

CREATE TABLE deploys (
    id uuid PRIMARY KEY,
    deployment_id uuid NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    kind text NOT NULL CHECK (kind IN ('IMAGE', 'DAG')),
    -- deploy-N: N counts up per deployment.
    revision integer NOT NULL CHECK (revision >= 1),
    image_tag text CHECK (image_tag IS NULL OR length(image_tag) <= 255),
    image text CHECK (image IS NULL OR length(image) <= 1024),
    bundle text CHECK (bundle IS NULL OR length(bundle) <= 1024),
    description text NOT NULL DEFAULT '' CHECK (length(description) <= 4096),
    deployed_by_user_id uuid REFERENCES users (id) ON DELETE SET NULL,
    deployed_by_service_account_id uuid REFERENCES service_accounts (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'IMAGE') = (image_tag IS NOT NULL)),
    CHECK ((kind = 'DAG') = (bundle IS NOT NULL)),
    CHECK (num_nonnulls(deployed_by_user_id, deployed_by_service_account_id) <= 1)
);
CREATE UNIQUE INDEX deploys_deployment_revision_key ON deploys (deployment_id, revision);
CREATE INDEX deploys_deployment_created_idx ON deploys (deployment_id, created_at DESC);
