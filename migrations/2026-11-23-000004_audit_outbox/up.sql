-- The audit trail and the outgoing mail queue.

CREATE TABLE audit_events (
    id uuid PRIMARY KEY,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    -- No foreign keys: an audit record outlives the user, workspace or deployment it names.
    actor_user_id uuid,
    actor_service_account_id uuid,
    actor_label text NOT NULL,
    action text NOT NULL CHECK (length(action) BETWEEN 1 AND 128),
    target_type text NOT NULL,
    target_id uuid,
    organization_id uuid,
    workspace_id uuid,
    deployment_id uuid,
    request_id text,
    client_address text,
    before jsonb,
    after jsonb
);
CREATE INDEX audit_events_occurred_idx ON audit_events (occurred_at DESC, id DESC);
CREATE INDEX audit_events_organization_idx ON audit_events (organization_id, occurred_at DESC) WHERE organization_id IS NOT NULL;
CREATE INDEX audit_events_workspace_idx ON audit_events (workspace_id, occurred_at DESC) WHERE workspace_id IS NOT NULL;
CREATE INDEX audit_events_deployment_idx ON audit_events (deployment_id, occurred_at DESC) WHERE deployment_id IS NOT NULL;
CREATE INDEX audit_events_actor_user_idx ON audit_events (actor_user_id, occurred_at DESC) WHERE actor_user_id IS NOT NULL;
CREATE INDEX audit_events_action_idx ON audit_events (action, occurred_at DESC);

-- Audit events are immutable: refuse updates at the database, whatever the caller.
CREATE FUNCTION audit_events_refuse_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit events are immutable';
END;
$$;
CREATE TRIGGER audit_events_immutable BEFORE UPDATE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_update();

CREATE TABLE mail_outbox (
    id uuid PRIMARY KEY,
    recipient text NOT NULL CHECK (length(recipient) BETWEEN 3 AND 320),
    subject text NOT NULL CHECK (length(subject) <= 998),
    body_text text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error text,
    sent_at timestamptz
);
CREATE INDEX mail_outbox_pending_idx ON mail_outbox (next_attempt_at) WHERE sent_at IS NULL;
