package main

import (
	"context"
	"fmt"
)

const migrateHelp = `Apply the embedded database migrations and exit. "bulwark serve" does this
too at every start; run it alone before rolling out new server nodes.

On SQLite the database is created if missing. On PostgreSQL pass the owner
role with --db-owner: it owns the tables and runs the migrations, then the
application role (--db) is checked: it must not own the tables, be a
superuser or bypass row-level security. Without --db-owner, migrate only
checks that the schema is current.`

func runMigrate(ctx context.Context, e *env, args []string) int {
	cfg := DefaultConfig()
	c := newCommand("migrate", "bulwark migrate [flags]", migrateHelp)
	cfg.bind(c, "data", "db", "db-owner", "log-level")
	if _, code, ok := c.parse(e, args, 0); !ok {
		return code
	}
	if err := cfg.load(c, e); err != nil {
		return c.configError(e, err)
	}
	log := newLogger(e, cfg.LogLevel)
	db, err := openStore(ctx, &cfg, log, true)
	if err != nil {
		return fail(e, "migrate", err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		return fail(e, "migrate", err)
	}
	fmt.Fprintf(e.stdout, "The database %s is up to date.\n", redactURL(cfg.DB))
	return exitOK
}
