ALTER TABLE organizations DROP COLUMN ip_access_list;
