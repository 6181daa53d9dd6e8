DROP TABLE deploys;
DROP TABLE invites;
DROP TABLE role_bindings;
DROP TABLE service_accounts;
