-- Each deployment carries its deploy state (what `deployInfo` answers), so listing deployments needs no
-- query on `deploys`. A trigger keeps it, so every writer of `deploys` (whatever its version) keeps it
-- exact: the newest revision, and the tag of the newest image deploy.
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

CREATE FUNCTION deployments_record_deploy() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- SET expressions see the row as it was, so the tag moves only for the newest revision.
    UPDATE deployments
    SET deploy_revision = greatest(deploy_revision, NEW.revision),
        deploy_image_tag = CASE
            WHEN NEW.kind = 'IMAGE' AND NEW.revision >= deploy_revision THEN NEW.image_tag
            ELSE deploy_image_tag
        END
    WHERE id = NEW.deployment_id;
    RETURN NULL;
END
$$;

CREATE TRIGGER deploys_record_on_deployment AFTER INSERT ON deploys
    FOR EACH ROW EXECUTE FUNCTION deployments_record_deploy();
