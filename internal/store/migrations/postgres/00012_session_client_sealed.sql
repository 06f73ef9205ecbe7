-- +goose Up
-- A session's client address and User-Agent are personal data: new rows
-- keep them sealed under the tenant's data key in client_ip, with
-- user_agent empty (session_client.go). Rows written before kept both in
-- clear; they are blanked here rather than left in the database until
-- the sessions expire (up to 30 days). Those sessions go on working; they
-- are listed without an address. Row-level security is forced on the
-- table, the owner included, and no tenant is set here: it is lifted for
-- the update, which spans tenants, and forced again.
ALTER TABLE user_secrets NO FORCE ROW LEVEL SECURITY;
UPDATE user_secrets SET client_ip = '', user_agent = ''
    WHERE kind = 'bws' AND client_ip NOT LIKE 'aead:%' AND (client_ip <> '' OR user_agent <> '');
ALTER TABLE user_secrets FORCE ROW LEVEL SECURITY;

-- +goose Down
-- Nothing to undo: the blanked values are gone, and sealed ones still
-- read (a build before sealing lists them as stored).
SELECT 1;
