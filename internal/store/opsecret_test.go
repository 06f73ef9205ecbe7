package store_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/storetest"
)

// TestOperatorTOTPSealed: an operator's TOTP secret, which no tenant key
// covers, is sealed under the KEK (DATA-3: none of Bulwark's own secrets is
// stored in clear), and still opens after the KEK is rotated and its old
// version retired.
func TestOperatorTOTPSealed(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		f := storetest.NewFixture(t, backend)
		ctx := context.Background()
		sys := storetest.System(ctx)
		_, inv, err := f.CreateOperator(sys, "ops@vendor.example")
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Auth.Activate(ctx, inv.Token, storetest.Password); err != nil {
			t.Fatal(err)
		}
		s, err := f.Auth.OperatorLogin(ctx, "ops@vendor.example", storetest.Password)
		if err != nil {
			t.Fatal(err)
		}
		full := f.CompleteMFA(t, s)
		opCtx := f.As(t, full.Token)
		st, err := f.TOTP(opCtx)
		if err != nil || len(st.Secret) < 16 {
			t.Fatalf("TOTP = %+v, %v", st, err)
		}

		var raw string
		query := func() {
			t.Helper()
			var db *sql.DB
			if backend == "sqlite" {
				db, err = sql.Open("sqlite", "file:"+f.Path+"?mode=ro")
			} else {
				db, err = sql.Open("pgx", f.OwnerURL)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if err := db.QueryRow("SELECT secret FROM operator_totp").Scan(&raw); err != nil {
				t.Fatal(err)
			}
		}
		query()
		if strings.Contains(raw, st.Secret) || !strings.HasPrefix(raw, "kek:") {
			t.Fatalf("the operator's TOTP secret is stored as %q", raw)
		}
		if _, err := f.RotateKEK(sys, true, nil); err != nil {
			t.Fatal(err)
		}
		before := raw
		query()
		if raw == before {
			t.Error("the secret was not sealed again under the new KEK version")
		}
		st2, err := f.TOTP(opCtx)
		if err != nil || st2.Secret != st.Secret {
			t.Fatalf("after KEK rotation and retirement: %v", err)
		}
		_ = bulwark.KindOperator
	})
}
