-- +goose Up
-- Authentication, part 1 (AUTH-2, AUTH-3, AUTH-7, AUTH-8): per-tenant
-- authentication settings, password history, login failure counters,
-- session state, TOTP, recovery codes and WebAuthn credentials.

ALTER TABLE users ADD COLUMN password_changed_at BIGINT NOT NULL DEFAULT 0;
-- 1 when the user must change their password before doing anything else
-- (expired under an opt-in max age, or the policy was tightened).
ALTER TABLE users ADD COLUMN password_change_required BIGINT NOT NULL DEFAULT 0;

-- Session state. stage is '' for a full session, 'mfa' after the password
-- when a second factor is still owed, 'enrol' when the user must enrol a
-- factor first, 'password' when the password must be changed first.
ALTER TABLE user_secrets ADD COLUMN stage TEXT NOT NULL DEFAULT '';
ALTER TABLE user_secrets ADD COLUMN public_id TEXT NOT NULL DEFAULT '';
ALTER TABLE user_secrets ADD COLUMN idle_us BIGINT NOT NULL DEFAULT 0;
ALTER TABLE user_secrets ADD COLUMN auth_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE user_secrets ADD COLUMN mfa_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE user_secrets ADD COLUMN client_ip TEXT NOT NULL DEFAULT '';
ALTER TABLE user_secrets ADD COLUMN user_agent TEXT NOT NULL DEFAULT '';
-- A pending WebAuthn ceremony (go-webauthn SessionData, JSON), bound to
-- this session and cleared when used.
ALTER TABLE user_secrets ADD COLUMN challenge TEXT NOT NULL DEFAULT '';

ALTER TABLE operator_secrets ADD COLUMN stage TEXT NOT NULL DEFAULT '';
ALTER TABLE operator_secrets ADD COLUMN auth_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE operator_secrets ADD COLUMN challenge TEXT NOT NULL DEFAULT '';

-- One row per tenant: bulwark.AuthSettings as JSON. No row = defaults.
CREATE TABLE auth_settings (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    settings   TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id)
);

CREATE TABLE password_history (
    tenant_id     TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    id            TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, user_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);

-- Failed-login counters, keyed by a hash of (scope, identifier) so unknown
-- and known accounts are counted and throttled alike. Deployment-level: a
-- key reveals neither the tenant nor the email.
CREATE TABLE login_failures (
    key           TEXT PRIMARY KEY,
    failures      BIGINT NOT NULL,
    last_at       BIGINT NOT NULL,
    blocked_until BIGINT NOT NULL
);
CREATE INDEX login_failures_last ON login_failures (last_at);

CREATE TABLE mfa_totp (
    tenant_id    TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    secret       BYTEA NOT NULL,  -- sealed with the tenant's data key (sealSecret)
    last_step    BIGINT NOT NULL,
    confirmed_at BIGINT,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, user_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE mfa_recovery_codes (
    tenant_id TEXT NOT NULL,
    user_id   TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    used_at   BIGINT,
    PRIMARY KEY (tenant_id, user_id, code_hash),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE webauthn_credentials (
    tenant_id    TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    id           TEXT NOT NULL,  -- base64url credential id
    name         TEXT NOT NULL,
    credential   TEXT NOT NULL,  -- go-webauthn Credential, JSON (flags included)
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);

-- Devices a user signed in from (a hash of the user agent), so a sign-in
-- from a new one can be notified (ASVS V6.3.7).
CREATE TABLE user_devices (
    tenant_id  TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    device     TEXT NOT NULL,
    first_seen BIGINT NOT NULL,
    last_seen  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, user_id, device),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE operator_totp (
    operator_id  TEXT PRIMARY KEY REFERENCES operators (id) ON DELETE CASCADE,
    secret       TEXT NOT NULL,
    last_step    BIGINT NOT NULL,
    confirmed_at BIGINT,
    created_at   BIGINT NOT NULL
);

-- Row-level security, as in 00001.
ALTER TABLE auth_settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE auth_settings FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON auth_settings
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE password_history ENABLE ROW LEVEL SECURITY;
ALTER TABLE password_history FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON password_history
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE mfa_totp ENABLE ROW LEVEL SECURITY;
ALTER TABLE mfa_totp FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON mfa_totp
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE mfa_recovery_codes ENABLE ROW LEVEL SECURITY;
ALTER TABLE mfa_recovery_codes FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON mfa_recovery_codes
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE user_devices ENABLE ROW LEVEL SECURITY;
ALTER TABLE user_devices FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON user_devices
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE webauthn_credentials ENABLE ROW LEVEL SECURITY;
ALTER TABLE webauthn_credentials FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON webauthn_credentials
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

-- Operators' passkeys (phishing-resistant MFA for staff, ASVS V6.3.3 L3).
CREATE TABLE operator_webauthn (
    id           TEXT PRIMARY KEY,  -- base64url credential id
    operator_id  TEXT NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    credential   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT
);

-- +goose Down
DROP TABLE operator_webauthn;
DROP TABLE operator_totp;
DROP TABLE user_devices;
DROP TABLE webauthn_credentials;
DROP TABLE mfa_recovery_codes;
DROP TABLE mfa_totp;
DROP TABLE login_failures;
DROP TABLE password_history;
DROP TABLE auth_settings;
