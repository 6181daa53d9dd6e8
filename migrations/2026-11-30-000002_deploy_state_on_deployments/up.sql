-- Each deployment carries its deploy state (what `deployInfo` answers), kept by the deploy that changes
-- it in the same transaction: listing deployments then needs no query on `deploys` at all.
ALTER TABLE deployments
    ADD COLUMN deploy_revision integer NOT NULL DEFAULT 0,
    ADD COLUMN deploy_image_tag text;

UPDATE deployments d
SET deploy_revision = s.latest_revision,
    deploy_image_tag = s.current_tag
FROM (
    SELECT deployment_id,
           max(revision) AS latest_revision,
           (array_agg(image_tag ORDER BY revision DESC) FILTER (WHERE kind = 'IMAGE'))[1] AS current_tag
    FROM deploys
    GROUP BY deployment_id
) s
WHERE s.deployment_id = d.id;
