-- +goose Up
-- Operator roles (PRIV-1): what each of the vendor's staff may do, as a
-- space-separated set of role names ("admin", "security"). New operators
-- get no role unless one is given (deny by default); operators that exist
-- keep what they could do until now, which is the admin role.
ALTER TABLE operators ADD COLUMN roles TEXT NOT NULL DEFAULT '';
UPDATE operators SET roles = 'admin';

-- +goose Down
ALTER TABLE operators DROP COLUMN roles;
