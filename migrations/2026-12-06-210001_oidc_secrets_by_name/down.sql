ALTER TABLE identity_providers
    ADD COLUMN client_secret_env text CHECK (client_secret_env IS NULL OR length(client_secret_env) <= 255),
    ADD COLUMN client_secret_file text CHECK (client_secret_file IS NULL OR length(client_secret_file) <= 4096),
    ADD CHECK (client_secret_env IS NULL OR client_secret_file IS NULL);
