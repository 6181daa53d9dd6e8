-- Custom roles stored before two rules of docs/custom-roles.md held are brought under them:
--
-- * A role that changes something holds the reads its answers need (the pairs of
--   Permission::reads_needed in src/rbac/permissions.rs): without them a holder's change was committed
--   and then answered FORBIDDEN. The reads are added; the role's changes keep working and are now
--   answered. (Taking the writes away instead would stop holders doing what they did.)
-- * No role carries a built-in role's name: such a role is renamed `<name> (custom <its id>)`, a name no
--   other role can hold (the id is the role's own), so the rename never meets the unique index.
--
-- Each statement is idempotent; a role changed here moves the authorization epoch (its trigger), so
-- every holder's bindings are read again on its next request.
WITH needs (holding, needed) AS (VALUES
    ('workspace.config.update', 'workspace.config.get'),
    ('workspace.config.delete', 'workspace.config.get'),
    ('workspace.serviceAccounts.create', 'workspace.serviceAccounts.get'),
    ('workspace.serviceAccounts.update', 'workspace.serviceAccounts.get'),
    ('workspace.serviceAccounts.delete', 'workspace.serviceAccounts.get'),
    ('workspace.iam.update', 'workspace.config.get'),
    ('workspace.iam.update', 'workspace.users.get'),
    ('workspace.iam.update', 'workspace.invites.get'),
    ('deployment.config.update', 'deployment.config.get'),
    ('deployment.config.delete', 'deployment.config.get'),
    ('deployment.images.push', 'deployment.config.get'),
    ('deployment.serviceAccounts.create', 'deployment.serviceAccounts.get'),
    ('deployment.serviceAccounts.update', 'deployment.serviceAccounts.get'),
    ('deployment.serviceAccounts.delete', 'deployment.serviceAccounts.get'),
    ('deployment.iam.update', 'deployment.config.get'),
    ('deployment.iam.update', 'deployment.users.get')
)
UPDATE custom_roles r
SET permissions = ARRAY(
        SELECT DISTINCT p
        FROM unnest(r.permissions || ARRAY(SELECT n.needed FROM needs n WHERE n.holding = ANY (r.permissions))) AS p
        ORDER BY p),
    updated_at = now()
WHERE EXISTS (
    SELECT 1 FROM needs n WHERE n.holding = ANY (r.permissions) AND NOT n.needed = ANY (r.permissions));

UPDATE custom_roles
SET name = btrim(name) || ' (custom ' || id::text || ')', updated_at = now()
WHERE upper(btrim(name)) IN (
    'SYSTEM_ADMIN', 'SYSTEM_EDITOR', 'SYSTEM_VIEWER', 'ORGANIZATION_OWNER', 'ORGANIZATION_BILLING_ADMIN',
    'ORGANIZATION_MEMBER', 'WORKSPACE_ADMIN', 'WORKSPACE_EDITOR', 'WORKSPACE_VIEWER', 'WORKSPACE_CUSTOM',
    'DEPLOYMENT_ADMIN', 'DEPLOYMENT_EDITOR', 'DEPLOYMENT_VIEWER', 'DEPLOYMENT_CUSTOM', 'USER');
