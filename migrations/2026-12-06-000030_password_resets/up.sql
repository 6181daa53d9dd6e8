-- One-time password-reset tokens (SPEC §3): only the SHA-256 of a token is kept, as for API keys and
-- invites; a token works once and within an hour (the expiry is written at creation).
CREATE TABLE password_resets (
    token_hash bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX password_resets_user_id_idx ON password_resets (user_id);

-- Reset requests are throttled per address asked about and per client address, counted in the sign-in
-- throttle's table under scopes of their own.
ALTER TABLE login_failures DROP CONSTRAINT login_failures_scope_check;
ALTER TABLE login_failures ADD CONSTRAINT login_failures_scope_check
    CHECK (scope IN ('identity', 'address', 'reset_email', 'reset_address'));
