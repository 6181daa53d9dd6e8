-- Managed domains: an organization claims an email domain and proves it holds it with a DNS TXT record.
-- A domain may be claimed by several organizations but verified by one only.
CREATE TABLE organization_domains (
    id uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    domain text NOT NULL CHECK (domain = lower(domain) AND length(domain) BETWEEN 3 AND 253),
    -- The value the TXT record must hold. Not a secret: anyone can read it from DNS once published.
    verification_value text NOT NULL CHECK (length(verification_value) BETWEEN 16 AND 128),
    verified_at timestamptz,
    last_checked_at timestamptz,
    created_by uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX organization_domains_claim_key ON organization_domains (organization_id, domain);
CREATE UNIQUE INDEX organization_domains_verified_key ON organization_domains (domain) WHERE verified_at IS NOT NULL;
