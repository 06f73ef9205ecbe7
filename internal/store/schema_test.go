package store_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/store"
	"github.com/bulwarkhq/bulwark/internal/storetest"
)

// TestCheckSchemaPostgres: on PostgreSQL, as on SQLite (TestCheckSchema),
// the application role's store refuses a schema behind or ahead of the
// binary's migrations with EFailedPrecondition.
func TestCheckSchemaPostgres(t *testing.T) {
	db := storetest.OpenPostgres(t, store.Options{})
	ctx := context.Background()
	if err := db.CheckSchema(ctx); err != nil {
		t.Fatalf("migrated: %v", err)
	}
	owner, err := sql.Open("pgx", db.OwnerURL)
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	var latest int64
	if err := owner.QueryRow("SELECT max(version_id) FROM goose_db_version").Scan(&latest); err != nil {
		t.Fatal(err)
	}
	for name, change := range map[string]string{
		"behind": "UPDATE goose_db_version SET is_applied = false WHERE version_id = $1",
		"ahead":  "INSERT INTO goose_db_version (version_id, is_applied) VALUES ($1 + 1, true)",
	} {
		if _, err := owner.Exec(change, latest); err != nil {
			t.Fatal(err)
		}
		if err := db.CheckSchema(ctx); bulwark.ErrorCode(err) != bulwark.EFailedPrecondition {
			t.Errorf("%s: %v, want %s", name, err, bulwark.EFailedPrecondition)
		}
		if _, err := owner.Exec("DELETE FROM goose_db_version WHERE version_id > $1", latest); err != nil {
			t.Fatal(err)
		}
		if _, err := owner.Exec("UPDATE goose_db_version SET is_applied = true WHERE version_id = $1", latest); err != nil {
			t.Fatal(err)
		}
		if err := db.CheckSchema(ctx); err != nil {
			t.Fatalf("%s, undone: %v", name, err)
		}
	}
}
