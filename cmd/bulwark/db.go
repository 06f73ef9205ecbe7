package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/store"
)

// openStore opens the configured database. When the database lives in the
// data directory, that directory must pass prepareDataDir first (created
// only when create is set: serve and migrate make it, the admin commands
// expect it, with its schema current).
func openStore(ctx context.Context, cfg *Config, log *slog.Logger, create bool) (*store.DB, error) {
	if cfg.usesDataDirDB() {
		if err := prepareDataDir(cfg.DataDir, create); err != nil {
			return nil, err
		}
	}
	ring, err := cfg.keyRing(ctx)
	if err != nil {
		return nil, err
	}
	db, err := store.Open(ctx, cfg.DB, store.Options{
		Now:       time.Now,
		InviteTTL: cfg.InviteTTL,
		Logger:    log,
		OwnerURL:  cfg.DBOwner,
		Keys:      ring,
	})
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", redactURL(cfg.DB), err)
	}
	// serve and migrate bring the schema up to date; every other command
	// works on it as it is, and refuses a schema this binary does not match.
	if !create {
		if err := db.CheckSchema(ctx); err != nil {
			db.Close()
			return nil, err
		}
	}
	return db, nil
}

// systemContext is the context of a command-line action on the store: the
// person at the terminal holds the database itself, so the CLI acts as the
// system principal (bulwark.KindSystem), which the web layer never makes.
func systemContext(ctx context.Context) context.Context {
	return bulwark.NewContext(ctx, &bulwark.Principal{Kind: bulwark.KindSystem, ID: "cli"})
}
