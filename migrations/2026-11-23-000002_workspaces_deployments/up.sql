-- Workspaces, clusters, deployments and what hangs off a deployment.

CREATE TABLE workspaces (
    id uuid PRIMARY KEY,
    -- A workspace never leaves its organization; an organization with workspaces cannot be deleted.
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE RESTRICT,
    label text NOT NULL CHECK (length(label) BETWEEN 1 AND 255),
    description text NOT NULL DEFAULT '' CHECK (length(description) <= 4096),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX workspaces_organization_label_key ON workspaces (organization_id, lower(label));

CREATE TABLE clusters (
    id uuid PRIMARY KEY,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    kind text NOT NULL CHECK (kind IN ('STANDARD', 'DEDICATED')),
    -- A dedicated cluster belongs to one organization; a standard one is shared by all.
    organization_id uuid REFERENCES organizations (id) ON DELETE CASCADE,
    -- When true, only the workspaces listed in cluster_workspaces may use this dedicated cluster.
    restricted_to_workspaces boolean NOT NULL DEFAULT false,
    base_domain text NOT NULL DEFAULT 'localhost' CHECK (length(base_domain) <= 255),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'STANDARD') = (organization_id IS NULL)),
    CHECK (kind = 'DEDICATED' OR NOT restricted_to_workspaces)
);
CREATE UNIQUE INDEX clusters_name_key ON clusters (lower(name));
CREATE INDEX clusters_organization_id_idx ON clusters (organization_id);
INSERT INTO clusters (id, name, kind) VALUES (gen_random_uuid(), 'default', 'STANDARD');

CREATE TABLE cluster_workspaces (
    cluster_id uuid NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    PRIMARY KEY (cluster_id, workspace_id)
);
CREATE INDEX cluster_workspaces_workspace_id_idx ON cluster_workspaces (workspace_id);

CREATE TABLE deployments (
    id uuid PRIMARY KEY,
    -- Deployments cannot move between workspaces; a workspace with deployments (even soft-deleted ones,
    -- whose release names stay reserved) is only removable once they are purged.
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE RESTRICT,
    cluster_id uuid NOT NULL REFERENCES clusters (id) ON DELETE RESTRICT,
    label text NOT NULL CHECK (length(label) BETWEEN 1 AND 255),
    description text NOT NULL DEFAULT '' CHECK (length(description) <= 4096),
    release_name text NOT NULL CHECK (release_name ~ '^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$'),
    namespace text NOT NULL CHECK (length(namespace) BETWEEN 1 AND 253),
    version text NOT NULL,
    airflow_version text NOT NULL,
    runtime_version text,
    desired_runtime_version text,
    desired_airflow_version text,
    executor text NOT NULL DEFAULT 'CeleryExecutor'
        CHECK (executor IN ('CeleryExecutor', 'KubernetesExecutor', 'LocalExecutor')),
    scheduler_size text NOT NULL DEFAULT 'SMALL' CHECK (scheduler_size IN ('SMALL', 'MEDIUM', 'LARGE')),
    scheduler_replicas integer NOT NULL DEFAULT 1 CHECK (scheduler_replicas BETWEEN 1 AND 4),
    worker_min integer NOT NULL DEFAULT 0 CHECK (worker_min >= 0),
    worker_max integer NOT NULL DEFAULT 10,
    worker_concurrency integer NOT NULL DEFAULT 5 CHECK (worker_concurrency BETWEEN 1 AND 256),
    high_availability boolean NOT NULL DEFAULT false,
    enforce_cicd boolean NOT NULL DEFAULT false,
    dag_deploy_enabled boolean NOT NULL DEFAULT false,
    triggerer_replicas integer NOT NULL DEFAULT 1 CHECK (triggerer_replicas BETWEEN 0 AND 10),
    -- Houston's free-form `config` and `properties` JSON, kept for clients that send them.
    config jsonb NOT NULL DEFAULT '{}'::jsonb,
    properties jsonb NOT NULL DEFAULT '{}'::jsonb,
    status text NOT NULL DEFAULT 'CREATING'
        CHECK (status IN ('CREATING', 'DEPLOYING', 'HEALTHY', 'UNHEALTHY', 'DELETING', 'UNKNOWN')),
    mode text NOT NULL DEFAULT 'helm' CHECK (mode IN ('helm', 'operator')),
    created_by uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    CHECK (worker_min <= worker_max),
    CHECK (NOT high_availability OR scheduler_replicas >= 2)
);
-- Release names and namespaces stay reserved after a soft delete.
CREATE UNIQUE INDEX deployments_release_name_key ON deployments (release_name);
CREATE UNIQUE INDEX deployments_namespace_key ON deployments (namespace);
CREATE UNIQUE INDEX deployments_workspace_label_live_key ON deployments (workspace_id, lower(label))
    WHERE deleted_at IS NULL;
CREATE INDEX deployments_workspace_live_idx ON deployments (workspace_id) WHERE deleted_at IS NULL;
CREATE INDEX deployments_cluster_id_idx ON deployments (cluster_id);
CREATE INDEX deployments_created_by_idx ON deployments (created_by);

CREATE TABLE environment_variables (
    deployment_id uuid NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    key text NOT NULL CHECK (key ~ '^[A-Z_][A-Z0-9_]*$' AND key !~ '^_+$' AND length(key) <= 255),
    is_secret boolean NOT NULL,
    -- Plain value for ordinary variables; secrets are only ever stored encrypted.
    value text CHECK (value IS NULL OR length(value) <= 65536),
    secret_ciphertext bytea,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (deployment_id, key),
    CHECK (
        (is_secret AND value IS NULL AND secret_ciphertext IS NOT NULL)
        OR (NOT is_secret AND secret_ciphertext IS NULL AND value IS NOT NULL)
    )
);
