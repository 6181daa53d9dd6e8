-- SCIM provisioning: which users and teams an organization's identity provider manages, with the
-- provider's own identifiers for them (SCIM `externalId`).
CREATE TABLE scim_users (
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    external_id text CHECK (external_id IS NULL OR length(external_id) BETWEEN 1 AND 255),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, user_id)
);
CREATE INDEX scim_users_user_id_idx ON scim_users (user_id);

CREATE TABLE scim_groups (
    team_id uuid PRIMARY KEY REFERENCES teams (id) ON DELETE CASCADE,
    external_id text CHECK (external_id IS NULL OR length(external_id) BETWEEN 1 AND 255),
    created_at timestamptz NOT NULL DEFAULT now()
);
