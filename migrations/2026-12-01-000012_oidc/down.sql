DROP TABLE sign_in_codes;
DROP TABLE external_identities;
DROP TABLE oidc_flows;
DROP TABLE identity_providers;
