-- Delivery of the mail outbox: a message can be given up (a permanent refusal, or too many attempts), and
-- every insert wakes the mailers of all capcom processes at once (they claim rows with SKIP LOCKED).

ALTER TABLE mail_outbox ADD COLUMN failed_at timestamptz;

DROP INDEX mail_outbox_pending_idx;
CREATE INDEX mail_outbox_pending_idx ON mail_outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;

CREATE FUNCTION mail_outbox_announce() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('capcom_mail', '');
    RETURN NULL;
END;
$$;
CREATE TRIGGER mail_outbox_announce AFTER INSERT ON mail_outbox
    FOR EACH STATEMENT EXECUTE FUNCTION mail_outbox_announce();
