DROP TRIGGER deploys_record_on_deployment ON deploys;
DROP FUNCTION deployments_record_deploy();
ALTER TABLE deployments DROP COLUMN deploy_image_tag, DROP COLUMN deploy_revision;
