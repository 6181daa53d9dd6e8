DROP TRIGGER audit_events_announced ON audit_events;
DROP FUNCTION audit_events_announce();
DROP INDEX audit_events_organization_keyset_idx;
DROP INDEX teams_organization_id_idx;
ALTER TABLE clusters DROP COLUMN region, DROP COLUMN provider;
ALTER TABLE organizations DROP COLUMN billing_plan, DROP COLUMN billing_company, DROP COLUMN description;
