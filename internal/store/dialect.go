package store

import (
	"encoding/json"
	"errors"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

type sqliteDialect struct{}

func (sqliteDialect) name() string           { return "sqlite" }
func (sqliteDialect) rebind(q string) string { return q }

func (sqliteDialect) jsonEq(col, field string, v any) (string, []any, error) {
	// json_extract yields SQL values: text, a number, or 1/0 for booleans.
	// Field names are validated identifiers, but they still travel as
	// arguments, never as SQL text.
	return "json_extract(" + col + ", ?) = ?", []any{`$."` + field + `"`, v}, nil
}

func (sqliteDialect) isInvalidInput(error) bool { return false }

func (sqliteDialect) isUnique(err error) bool {
	var e *sqlite.Error
	if errors.As(err, &e) {
		c := e.Code()
		return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

type postgresDialect struct{}

func (postgresDialect) name() string           { return "postgres" }
func (postgresDialect) rebind(q string) string { return rebindDollar(q) }

func (postgresDialect) jsonEq(col, field string, v any) (string, []any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", nil, err
	}
	// jsonb equality compares numbers numerically and strings exactly.
	return "(" + col + " -> ?::text) = ?::jsonb", []any{field, string(b)}, nil
}

// isInvalidInput reports SQLSTATE class 22 (data exception): a NUL byte or
// invalid UTF-8 in a string, a value out of range. It is the caller's
// input, not a fault of the server.
func (postgresDialect) isInvalidInput(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && len(e.Code) == 5 && e.Code[:2] == "22"
}

func (postgresDialect) isUnique(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && e.Code == "23505"
}
