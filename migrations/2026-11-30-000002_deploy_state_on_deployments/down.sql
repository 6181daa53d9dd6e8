ALTER TABLE deployments DROP COLUMN deploy_image_tag, DROP COLUMN deploy_revision;
