DROP INDEX IF EXISTS deployments_hibernation_due;
DROP INDEX IF EXISTS deployments_expiry_due;
UPDATE deployments SET status = 'HEALTHY' WHERE status = 'HIBERNATING';
ALTER TABLE deployments DROP CONSTRAINT IF EXISTS deployments_status_check;
ALTER TABLE deployments ADD CONSTRAINT deployments_status_check
    CHECK (status IN ('CREATING', 'DEPLOYING', 'HEALTHY', 'UNHEALTHY', 'DELETING', 'UNKNOWN'));
ALTER TABLE deployments
    DROP COLUMN hibernation_due_at,
    DROP COLUMN is_hibernating,
    DROP COLUMN awake_until,
    DROP COLUMN hibernate_until,
    DROP COLUMN hibernation_time_zone,
    DROP COLUMN wake_at_cron,
    DROP COLUMN hibernate_at_cron,
    DROP COLUMN is_development_mode,
    DROP COLUMN expires_at;
