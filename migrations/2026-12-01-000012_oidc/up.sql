-- OpenID Connect sign-in: identity providers per organization, sign-ins under way, the accounts they
-- vouched for, and one-time codes a console exchanges for a token.
CREATE TABLE identity_providers (
    id uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    -- What `/v1/oauth/start?provider=` names; unique in the installation.
    name text NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    display_name text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 255),
    issuer_url text NOT NULL CHECK (length(issuer_url) BETWEEN 1 AND 2048),
    client_id text NOT NULL CHECK (length(client_id) BETWEEN 1 AND 1024),
    -- Where the client secret is read from when it is needed; the secret itself is never stored.
    client_secret_env text CHECK (client_secret_env IS NULL OR length(client_secret_env) <= 255),
    client_secret_file text CHECK (client_secret_file IS NULL OR length(client_secret_file) <= 4096),
    scopes text NOT NULL DEFAULT 'openid email profile' CHECK (length(scopes) <= 1024),
    email_claim text NOT NULL DEFAULT 'email' CHECK (length(email_claim) BETWEEN 1 AND 255),
    name_claim text NOT NULL DEFAULT 'name' CHECK (length(name_claim) BETWEEN 1 AND 255),
    groups_claim text CHECK (groups_claim IS NULL OR length(groups_claim) BETWEEN 1 AND 255),
    enabled boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK (client_secret_env IS NULL OR client_secret_file IS NULL)
);
CREATE UNIQUE INDEX identity_providers_name_key ON identity_providers (name);
CREATE INDEX identity_providers_organization_id_idx ON identity_providers (organization_id);

-- A sign-in under way: found by the hash of its `state`, used once.
CREATE TABLE oidc_flows (
    state_hash bytea PRIMARY KEY,
    provider_id uuid NOT NULL REFERENCES identity_providers (id) ON DELETE CASCADE,
    -- Hash of the random value of the cookie that ties the flow to the browser that started it.
    browser_hash bytea NOT NULL,
    nonce text NOT NULL,
    pkce_verifier text NOT NULL,
    redirect_to text NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX oidc_flows_expires_at_idx ON oidc_flows (expires_at);

CREATE TABLE external_identities (
    provider_id uuid NOT NULL REFERENCES identity_providers (id) ON DELETE CASCADE,
    subject text NOT NULL CHECK (length(subject) BETWEEN 1 AND 255),
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_sign_in_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider_id, subject)
);
CREATE INDEX external_identities_user_id_idx ON external_identities (user_id);

-- One-time codes handed to the console after a sign-in, exchanged for a token (stored hashed).
CREATE TABLE sign_in_codes (
    code_hash bytea PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL
);
