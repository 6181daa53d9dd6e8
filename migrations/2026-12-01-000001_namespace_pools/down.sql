DROP INDEX deployments_cluster_namespace_live_key;
CREATE UNIQUE INDEX deployments_namespace_key ON deployments (namespace);
ALTER TABLE clusters DROP COLUMN namespaces;
