ALTER TABLE invites DROP COLUMN invited_by_service_account_id;
DROP TABLE organization_removals;
ALTER TABLE organizations DROP COLUMN joins;
