DELETE FROM login_failures WHERE scope IN ('reset_email', 'reset_address');
ALTER TABLE login_failures DROP CONSTRAINT login_failures_scope_check;
ALTER TABLE login_failures ADD CONSTRAINT login_failures_scope_check CHECK (scope IN ('identity', 'address'));
DROP TABLE password_resets;
