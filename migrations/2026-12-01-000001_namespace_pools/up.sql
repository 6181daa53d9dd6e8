-- Clusters get a pool of namespaces an operator pre-created for deployments (`availableNamespaces`), and a
-- namespace is taken only while a live deployment uses it on that cluster: a soft-deleted deployment's
-- namespace goes back to the pool (release names stay reserved for ever, as before).

ALTER TABLE clusters
    ADD COLUMN namespaces text[] NOT NULL DEFAULT '{}' CHECK (cardinality(namespaces) <= 1000);

DROP INDEX deployments_namespace_key;
CREATE UNIQUE INDEX deployments_cluster_namespace_live_key ON deployments (cluster_id, namespace)
    WHERE deleted_at IS NULL;
