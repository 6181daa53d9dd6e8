-- Failed sign-ins are also counted per client address (an IPv4 address or an IPv6 /64), so that guessing
-- with ever new identities is throttled too. `scope` says what `identity` holds.
ALTER TABLE login_failures
    ADD COLUMN scope text NOT NULL DEFAULT 'identity' CHECK (scope IN ('identity', 'address'));
ALTER TABLE login_failures DROP CONSTRAINT login_failures_pkey;
ALTER TABLE login_failures ADD PRIMARY KEY (scope, identity);
-- Expired rows are deleted now and then; this finds them.
CREATE INDEX login_failures_window_started_at ON login_failures (window_started_at);
