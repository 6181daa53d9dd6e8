DROP TABLE mail_outbox;
DROP TRIGGER audit_events_immutable ON audit_events;
DROP FUNCTION audit_events_refuse_update();
DROP TABLE audit_events;
