-- An organization's IP access list (docs/ip-access-list.md): the CIDR ranges its objects may be reached
-- from, in canonical text (`192.0.2.0/24`, `2001:db8::/32`). Empty: from anywhere. Replaced as a whole;
-- read with the caller's bindings in the one statement that loads the principal.
ALTER TABLE organizations ADD COLUMN ip_access_list text[] NOT NULL DEFAULT '{}';
