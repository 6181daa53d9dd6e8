-- One grant path (SPEC §2, "Membership rules").

-- The founders' rule counts joins, not members: how many people ever joined each organization. The first
-- three joins make owners; a removal does not give the count back. Existing organizations start from
-- their members plus the removals their audit trail records, the best account of past joins there is.
ALTER TABLE organizations ADD COLUMN joins bigint NOT NULL DEFAULT 0 CHECK (joins >= 0);
UPDATE organizations o SET joins =
      (SELECT count(*) FROM role_bindings rb WHERE rb.organization_id = o.id AND rb.user_id IS NOT NULL)
    + (SELECT count(*) FROM audit_events ae WHERE ae.organization_id = o.id AND ae.action = 'organization.user.remove');

-- Removals stick: a person removed from an organization is not brought back by a domain join. Only an
-- explicit add or an accepted invite clears the record.
CREATE TABLE organization_removals (
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    removed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, user_id)
);
CREATE INDEX organization_removals_user_id_idx ON organization_removals (user_id);

-- An invite is re-checked against its inviter when it is accepted: an API key can be the inviter too.
ALTER TABLE invites ADD COLUMN invited_by_service_account_id uuid REFERENCES service_accounts (id) ON DELETE SET NULL;
