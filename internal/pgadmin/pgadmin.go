// Package pgadmin makes scratch PostgreSQL databases the way Bulwark wants
// them deployed: a database owned by an owner role that runs migrations,
// and a separate plain application role that row-level security binds.
// Tests and `bulwark bench` use it; production databases are made by their
// operators (docs/postgres.md).
package pgadmin

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// Scratch is a database made for one test or benchmark run.
type Scratch struct {
	AppURL, OwnerURL string
	AppRole          string
	adminURL         string
	name, owner      string
}

// Create makes a database and its two roles, with names that start with
// prefix and end with a random suffix.
func Create(ctx context.Context, adminURL, prefix string) (*Scratch, error) {
	admin, err := sql.Open("pgx", adminURL)
	if err != nil {
		return nil, err
	}
	defer admin.Close()
	b := make([]byte, 6)
	rand.Read(b)
	sfx := hex.EncodeToString(b)
	s := &Scratch{adminURL: adminURL, owner: prefix + "_owner_" + sfx, AppRole: prefix + "_app_" + sfx, name: prefix + "_" + sfx}
	for _, q := range []string{
		"CREATE ROLE " + s.owner + " LOGIN NOSUPERUSER NOBYPASSRLS",
		"CREATE ROLE " + s.AppRole + " LOGIN NOSUPERUSER NOBYPASSRLS",
		"CREATE DATABASE " + s.name + " OWNER " + s.owner,
	} {
		if _, err := admin.ExecContext(ctx, q); err != nil {
			s.Drop()
			return nil, fmt.Errorf("%s: %w", q, err)
		}
	}
	if s.OwnerURL, err = withUser(adminURL, s.owner, s.name); err != nil {
		return nil, err
	}
	if s.AppURL, err = withUser(adminURL, s.AppRole, s.name); err != nil {
		return nil, err
	}
	return s, nil
}

// Drop removes the database and its roles.
func (s *Scratch) Drop() {
	a, err := sql.Open("pgx", s.adminURL)
	if err != nil {
		return
	}
	defer a.Close()
	a.Exec("DROP DATABASE IF EXISTS " + s.name + " WITH (FORCE)")
	a.Exec("DROP ROLE IF EXISTS " + s.AppRole)
	a.Exec("DROP ROLE IF EXISTS " + s.owner)
}

func withUser(base, user, dbname string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	u.User = url.User(user)
	u.Path = "/" + dbname
	return u.String(), nil
}
