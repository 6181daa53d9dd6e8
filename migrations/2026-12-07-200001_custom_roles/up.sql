-- Custom roles (docs/custom-roles.md; issue 26 §4): an organization's own workspace and deployment roles,
-- each a set of permission strings of its scope. A binding (or a workspace invite) holding one stores the
-- scope's marker role (WORKSPACE_CUSTOM, DEPLOYMENT_CUSTOM) and names the custom role; the principal query
-- reads the role's permissions with the binding, so decisions stay in memory.
CREATE TABLE custom_roles (
    id uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    scope text NOT NULL CHECK (scope IN ('WORKSPACE', 'DEPLOYMENT')),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    description text CHECK (description IS NULL OR length(description) <= 4096),
    -- Permission strings of the role's scope (validated by the domain; `workspace.` or `deployment.`).
    permissions text[] NOT NULL,
    created_by uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
-- A name is unique per organization and scope, whatever its case.
CREATE UNIQUE INDEX custom_roles_organization_scope_name_key ON custom_roles (organization_id, scope, lower(name));

ALTER TABLE role_bindings DROP CONSTRAINT role_bindings_role_check;
ALTER TABLE role_bindings ADD CONSTRAINT role_bindings_role_check CHECK (role IN (
    'SYSTEM_ADMIN', 'SYSTEM_EDITOR', 'SYSTEM_VIEWER',
    'ORGANIZATION_OWNER', 'ORGANIZATION_BILLING_ADMIN', 'ORGANIZATION_MEMBER',
    'WORKSPACE_ADMIN', 'WORKSPACE_EDITOR', 'WORKSPACE_VIEWER', 'WORKSPACE_CUSTOM',
    'DEPLOYMENT_ADMIN', 'DEPLOYMENT_EDITOR', 'DEPLOYMENT_VIEWER', 'DEPLOYMENT_CUSTOM'));
-- NO ACTION rather than RESTRICT: deleting a role that a binding names is refused all the same (the
-- domain answers CONFLICT first), while deleting an organization may cascade through its roles and the
-- bindings that name them in one statement (RESTRICT would check before the bindings are gone).
ALTER TABLE role_bindings ADD COLUMN custom_role_id uuid REFERENCES custom_roles (id);
ALTER TABLE role_bindings ADD CONSTRAINT role_bindings_custom_role_check
    CHECK ((role IN ('WORKSPACE_CUSTOM', 'DEPLOYMENT_CUSTOM')) = (custom_role_id IS NOT NULL));
CREATE INDEX role_bindings_custom_role_id_idx ON role_bindings (custom_role_id) WHERE custom_role_id IS NOT NULL;

ALTER TABLE invites ADD COLUMN custom_role_id uuid REFERENCES custom_roles (id);
ALTER TABLE invites ADD CONSTRAINT invites_custom_role_check
    CHECK ((role IS NOT DISTINCT FROM 'WORKSPACE_CUSTOM') = (custom_role_id IS NOT NULL));
CREATE INDEX invites_custom_role_id_idx ON invites (custom_role_id) WHERE custom_role_id IS NOT NULL;
