-- +goose Up
-- SAML service-provider keys and single logout (AUTH-5).
--
-- Each SAML provider has its own RSA key pair: sp_key is the PKCS #8
-- private key sealed with the tenant's data key (bound to the row, like
-- client_secret), sp_cert its DER certificate. sp_next_key/sp_next_cert
-- is the second published key: the next one before a rollover, the
-- previous one after it, until retired.
ALTER TABLE sso_providers ADD COLUMN sp_key BLOB;
ALTER TABLE sso_providers ADD COLUMN sp_cert BLOB;
ALTER TABLE sso_providers ADD COLUMN sp_next_key BLOB;
ALTER TABLE sso_providers ADD COLUMN sp_next_cert BLOB;

-- A session opened through SAML remembers where it came from, so logout
-- can name it to the IdP (NameID + SessionIndex) and an IdP's logout can
-- find it. Empty for every other session.
ALTER TABLE user_secrets ADD COLUMN sso_provider_id TEXT NOT NULL DEFAULT '';
ALTER TABLE user_secrets ADD COLUMN sso_name_id TEXT NOT NULL DEFAULT '';
ALTER TABLE user_secrets ADD COLUMN sso_name_id_format TEXT NOT NULL DEFAULT '';
ALTER TABLE user_secrets ADD COLUMN sso_session_index TEXT NOT NULL DEFAULT '';

-- The display name the IdP asserted (SAML attribute or OIDC name claim),
-- refreshed at each login.
ALTER TABLE federated_identities ADD COLUMN display_name TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE federated_identities DROP COLUMN display_name;
ALTER TABLE user_secrets DROP COLUMN sso_session_index;
ALTER TABLE user_secrets DROP COLUMN sso_name_id_format;
ALTER TABLE user_secrets DROP COLUMN sso_name_id;
ALTER TABLE user_secrets DROP COLUMN sso_provider_id;
ALTER TABLE sso_providers DROP COLUMN sp_next_cert;
ALTER TABLE sso_providers DROP COLUMN sp_next_key;
ALTER TABLE sso_providers DROP COLUMN sp_cert;
ALTER TABLE sso_providers DROP COLUMN sp_key;
