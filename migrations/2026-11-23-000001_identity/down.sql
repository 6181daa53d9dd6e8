DROP TABLE team_members;
DROP TABLE teams;
DROP TABLE login_failures;
DROP TABLE local_credentials;
DROP TABLE emails;
DROP TABLE users;
DROP TABLE organizations;
DROP TABLE installation;
