package store

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/bulwarkhq/bulwark"
)

// tenantTables are the tables under row-level security.
var tenantTables = []string{"users", "roles", "user_grants", "user_secrets", "api_tokens", "collections", "records", "record_uniques", "audit_log",
	"auth_settings", "password_history", "mfa_totp", "mfa_recovery_codes", "webauthn_credentials", "user_devices",
	"tenant_keys", "key_jobs", "audit_seal_salts",
	"sso_providers", "federated_identities", "sso_requests", "sso_seen_assertions", "sso_settings"}

// globalTables hold deployment-level data.
var globalTables = []string{"tenants", "operators", "operator_secrets", "login_failures", "operator_totp", "operator_webauthn"}

// migratePostgres runs the migrations as the owner role, then grants the
// application role data access (never ownership, never DDL).
func (db *DB) migratePostgres(ctx context.Context) error {
	owner, err := sql.Open("pgx", db.opt.OwnerURL)
	if err != nil {
		return fmt.Errorf("open owner connection: %w", err)
	}
	defer owner.Close()
	var ownerRole, appRole string
	if err := owner.QueryRowContext(ctx, "SELECT current_user").Scan(&ownerRole); err != nil {
		return fmt.Errorf("connect as owner: %w", err)
	}
	if err := db.write.QueryRowContext(ctx, "SELECT current_user").Scan(&appRole); err != nil {
		return fmt.Errorf("connect as application role: %w", err)
	}
	if ownerRole == appRole {
		return bulwark.Errorf(bulwark.EFailedPrecondition,
			"the application role %q must not own the tables: give --db a separate role from --db-owner", appRole)
	}
	sub, err := fs.Sub(migrations, "migrations/postgres")
	if err != nil {
		return err
	}
	// A session advisory lock, so nodes starting together migrate once.
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(goose.DialectPostgres, owner, sub, goose.WithSessionLocker(locker))
	if err != nil {
		return fmt.Errorf("load migrations: %w", err)
	}
	res, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, r := range res {
		db.opt.Logger.Info("migration applied", "version", r.Source.Version, "took", r.Duration)
	}
	app := pgx.Identifier{appRole}.Sanitize()
	stmts := []string{
		"GRANT USAGE ON SCHEMA " + pgx.Identifier{"public"}.Sanitize() + " TO " + app,
		"GRANT SELECT ON goose_db_version TO " + app,
		"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO " + app,
	}
	for _, t := range append(append([]string{}, tenantTables...), globalTables...) {
		stmts = append(stmts, "GRANT SELECT, INSERT, UPDATE, DELETE ON "+pgx.Identifier{t}.Sanitize()+" TO "+app)
	}
	stmts = append(stmts, auditGrants(app)...)
	for _, s := range stmts {
		if _, err := owner.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("grant the application role access: %w", err)
		}
	}
	return nil
}

// checkAppRole refuses to run as a role that row-level security does not
// bind: a superuser, a BYPASSRLS role, or the tables' owner (ISO-1).
func (db *DB) checkAppRole(ctx context.Context) error {
	var role string
	var super, bypass bool
	err := db.read.QueryRowContext(ctx,
		"SELECT rolname, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user").Scan(&role, &super, &bypass)
	if err != nil {
		return fmt.Errorf("inspect application role: %w", err)
	}
	var owned int
	err = db.read.QueryRowContext(ctx,
		"SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tableowner = current_user").Scan(&owned)
	if err != nil {
		return fmt.Errorf("inspect table owners: %w", err)
	}
	if super || bypass || owned > 0 {
		return bulwark.Errorf(bulwark.EFailedPrecondition,
			"refusing to serve as PostgreSQL role %q: it is a superuser, has BYPASSRLS or owns tables, so row-level security would not bind it; connect --db as a plain login role and give the owner role as --db-owner", role)
	}
	return nil
}
