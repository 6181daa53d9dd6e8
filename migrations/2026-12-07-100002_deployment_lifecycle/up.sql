-- Ephemeral deployments (expiry) and hibernation schedules (docs/ephemeral-deployments.md,
-- docs/hibernation.md). The sweeper claims due rows with FOR UPDATE SKIP LOCKED, so the partial indexes
-- below keep "what is due" a cheap lookup however many deployments there are.
ALTER TABLE deployments
    ADD COLUMN expires_at timestamptz,
    ADD COLUMN is_development_mode boolean NOT NULL DEFAULT false,
    ADD COLUMN hibernate_at_cron text,
    ADD COLUMN wake_at_cron text,
    ADD COLUMN hibernation_time_zone text,
    ADD COLUMN hibernate_until timestamptz,
    ADD COLUMN awake_until timestamptz,
    ADD COLUMN is_hibernating boolean NOT NULL DEFAULT false,
    -- When the sweeper must next look at this deployment's hibernation (the next cron transition or the
    -- end of an override); null when it has no schedule. Kept by capcom on every change of the settings
    -- and after every transition.
    ADD COLUMN hibernation_due_at timestamptz;

ALTER TABLE deployments DROP CONSTRAINT IF EXISTS deployments_status_check;
ALTER TABLE deployments ADD CONSTRAINT deployments_status_check
    CHECK (status IN ('CREATING', 'DEPLOYING', 'HEALTHY', 'UNHEALTHY', 'DELETING', 'UNKNOWN', 'HIBERNATING'));

CREATE INDEX deployments_expiry_due ON deployments (expires_at)
    WHERE expires_at IS NOT NULL AND deleted_at IS NULL;
CREATE INDEX deployments_hibernation_due ON deployments (hibernation_due_at)
    WHERE hibernation_due_at IS NOT NULL AND deleted_at IS NULL;
