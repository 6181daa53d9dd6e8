-- Identity: organizations, users, their emails and local credentials, teams.
-- Enumerations are text columns with CHECK constraints rather than PostgreSQL enum types: adding a value is
-- then a constraint swap that runs in a transaction, and diesel maps them without custom SQL types.

-- One row that serializes installation-wide decisions ("who is the first user").
CREATE TABLE installation (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    first_user_id uuid,
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO installation (singleton) VALUES (true);

CREATE TABLE organizations (
    id uuid PRIMARY KEY,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    is_default boolean NOT NULL DEFAULT false,
    billing_email text CHECK (billing_email IS NULL OR length(billing_email) <= 320),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX organizations_name_key ON organizations (lower(name));
-- At most one default organization: the one sign-ups join.
CREATE UNIQUE INDEX organizations_one_default ON organizations (is_default) WHERE is_default;

CREATE TABLE users (
    id uuid PRIMARY KEY,
    username text NOT NULL CHECK (length(username) BETWEEN 1 AND 255),
    full_name text CHECK (full_name IS NULL OR length(full_name) <= 255),
    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'pending', 'inactive', 'banned')),
    profile jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- Tokens whose iat is before this instant are refused (logout, password change, ban, removal).
    tokens_valid_after timestamptz NOT NULL DEFAULT now(),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_username_key ON users (lower(username));

CREATE TABLE emails (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    address text NOT NULL CHECK (address = lower(address) AND length(address) BETWEEN 3 AND 320),
    verified boolean NOT NULL DEFAULT false,
    is_primary boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX emails_address_key ON emails (address);
CREATE UNIQUE INDEX emails_one_primary_per_user ON emails (user_id) WHERE is_primary;
CREATE INDEX emails_user_id_idx ON emails (user_id);

CREATE TABLE local_credentials (
    user_id uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    password_hash text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Failed sign-ins per normalized identity, for throttling. Kept in the database so that every replica
-- sees the same count.
CREATE TABLE login_failures (
    identity text PRIMARY KEY CHECK (length(identity) <= 320),
    failure_count integer NOT NULL CHECK (failure_count >= 0),
    window_started_at timestamptz NOT NULL
);

CREATE TABLE teams (
    id uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    description text NOT NULL DEFAULT '' CHECK (length(description) <= 4096),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX teams_organization_name_key ON teams (organization_id, lower(name));

CREATE TABLE team_members (
    team_id uuid NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_user_id_idx ON team_members (user_id);
