DROP TRIGGER mail_outbox_announce ON mail_outbox;
DROP FUNCTION mail_outbox_announce();
DROP INDEX mail_outbox_pending_idx;
CREATE INDEX mail_outbox_pending_idx ON mail_outbox (next_attempt_at) WHERE sent_at IS NULL;
ALTER TABLE mail_outbox DROP COLUMN failed_at;
