-- A provider's client secret is the one the operator stored under the provider's own name
-- (CAPCOM_OIDC_SECRET_<NAME> or <CAPCOM_OIDC_SECRETS_DIR>/<name>, SPEC §3.1): no setting of a provider
-- chooses which secret it uses any more, so the columns that did go.
ALTER TABLE identity_providers DROP COLUMN client_secret_env, DROP COLUMN client_secret_file;
