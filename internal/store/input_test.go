package store_test

import (
	"testing"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/storetest"
)

// TestMalformedInputIsNeverInternal: NUL characters and invalid UTF-8 in
// ids, names, cursors and values are the caller's fault on both backends
// (PostgreSQL refuses them with a data exception), never a 500.
func TestMalformedInputIsNeverInternal(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		f := storetest.NewFixture(t, backend)
		owner, _ := f.Tenant(t, "acme")
		if _, err := f.CreateCollection(owner, notes); err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{"a\x00b", "\xff\xfe"} {
			_, err := f.GetRecord(owner, "notes", bad)
			okCode(t, err, bulwark.ENotFound, bulwark.EInvalid)
			_, err = f.GetRecord(owner, bad, "x")
			okCode(t, err, bulwark.ENotFound, bulwark.EInvalid, bulwark.EForbidden)
			_, _, err = f.ListRecords(owner, "notes", bulwark.ListOptions{Cursor: bad})
			okCode(t, err, "", bulwark.EInvalid)
			_, err = f.GetUser(owner, bad)
			okCode(t, err, bulwark.ENotFound, bulwark.EInvalid)
			_, err = f.CreateRecord(owner, "notes", map[string]any{"title": bad})
			okCode(t, err, bulwark.EInvalid)
		}
	})
}

func okCode(t *testing.T, err error, want ...bulwark.Code) {
	t.Helper()
	got := bulwark.ErrorCode(err)
	for _, w := range want {
		if got == w {
			return
		}
	}
	t.Errorf("error code %q (%v), want one of %q", got, err, want)
}
