DROP TABLE environment_variables;
DROP TABLE deployments;
DROP TABLE cluster_workspaces;
DROP TABLE clusters;
DROP TABLE workspaces;
