DROP INDEX login_failures_window_started_at;
DELETE FROM login_failures WHERE scope <> 'identity';
ALTER TABLE login_failures DROP CONSTRAINT login_failures_pkey;
ALTER TABLE login_failures DROP COLUMN scope;
ALTER TABLE login_failures ADD PRIMARY KEY (identity);
