-- Organizations get settings and billing details; clusters a provider and region; audit events can be
-- followed by organization in order.

ALTER TABLE organizations
    ADD COLUMN description text NOT NULL DEFAULT '' CHECK (length(description) <= 4096),
    ADD COLUMN billing_company text CHECK (billing_company IS NULL OR length(billing_company) <= 255),
    ADD COLUMN billing_plan text CHECK (billing_plan IS NULL OR length(billing_plan) <= 64);

ALTER TABLE clusters
    ADD COLUMN provider text NOT NULL DEFAULT '' CHECK (length(provider) <= 64),
    ADD COLUMN region text NOT NULL DEFAULT '' CHECK (length(region) <= 64);

-- Members of a team are members of its organization; listing a user's teams needs this index.
CREATE INDEX teams_organization_id_idx ON teams (organization_id);

-- Keyset paging of an organization's audit events reads them newest first.
CREATE INDEX audit_events_organization_keyset_idx ON audit_events (organization_id, occurred_at DESC, id DESC);

-- Every audit event is announced (after commit) to the replicas that stream them (`auditEventAdded`).
CREATE FUNCTION audit_events_announce() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('capcom_audit', NEW.id::text);
    RETURN NULL;
END;
$$;
CREATE TRIGGER audit_events_announced AFTER INSERT ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_announce();
