-- +goose Up
-- A federated identity belongs to the provider that linked it: the key
-- becomes (tenant_id, provider_id, issuer, subject). An issuer or SAML
-- entity id is only a string an administrator typed, and two providers of
-- a tenant may name the same one (every Entra ID application of a
-- directory has one entity id). Keyed by (issuer, subject) alone, a login
-- through one provider found the identity another had linked: a provider
-- that may not vouch for an owner (docs/sso.md section 6) logged in as an
-- owner linked through the real IdP, and a second provider's logout ended
-- nothing. A login through another provider now links anew, through a
-- verified email and its owner check. Existing rows stay as they are,
-- each with the provider that linked it (unique by the old key, so by the
-- new one too).
ALTER TABLE federated_identities DROP CONSTRAINT federated_identities_pkey;
ALTER TABLE federated_identities ADD CONSTRAINT federated_identities_pkey PRIMARY KEY (tenant_id, provider_id, issuer, subject);

-- +goose Down
-- Back to one row per (tenant_id, issuer, subject): where providers of a
-- tenant linked the same one, the identity linked first stays (the one
-- the old key would have kept) and the others go; their next login links
-- again through a verified email. Row-level security is forced on the
-- table, the owner included, and no tenant is set here: it is lifted for
-- the delete, which spans tenants, and forced again.
ALTER TABLE federated_identities NO FORCE ROW LEVEL SECURITY;
DELETE FROM federated_identities f
    WHERE EXISTS (SELECT 1 FROM federated_identities g
        WHERE g.tenant_id = f.tenant_id AND g.issuer = f.issuer AND g.subject = f.subject
          AND (g.created_at < f.created_at OR g.created_at = f.created_at AND g.provider_id < f.provider_id));
ALTER TABLE federated_identities FORCE ROW LEVEL SECURITY;
ALTER TABLE federated_identities DROP CONSTRAINT federated_identities_pkey;
ALTER TABLE federated_identities ADD CONSTRAINT federated_identities_pkey PRIMARY KEY (tenant_id, issuer, subject);
