package store

import (
	"context"
	"database/sql"
)

// stmtSet keeps the prepared statements of one transaction (SQLite).
//
// SQLite compiles every statement it is given. The requests of a group
// commit mostly run the same statements, and on the single writer that
// compile time is serial, so each statement is compiled once per
// transaction and reused. (Statements cannot outlive the transaction here:
// preparing on the pool would need a second connection, and the writer
// has exactly one.) PostgreSQL needs none of this: pgx caches prepared
// statements per connection itself.
type stmtSet struct {
	stmts map[string]*sql.Stmt
}

// maxStmts bounds a set: queries built with a variable number of
// conditions run unprepared once it is full.
const maxStmts = 64

func (db *DB) newStmtSet() *stmtSet {
	if db.dialect.name() != "sqlite" {
		return nil
	}
	return &stmtSet{stmts: map[string]*sql.Stmt{}}
}

// get returns q prepared in tx, or nil to run q unprepared (no set, a full
// set, or q does not prepare: running it plainly reports the error).
// Statements prepared in a transaction are closed with it.
func (s *stmtSet) get(ctx context.Context, tx *sql.Tx, q string) *sql.Stmt {
	if s == nil {
		return nil
	}
	if st, ok := s.stmts[q]; ok {
		return st
	}
	if len(s.stmts) >= maxStmts {
		return nil
	}
	st, err := tx.PrepareContext(ctx, q)
	if err != nil {
		return nil
	}
	s.stmts[q] = st
	return st
}
