package store

import (
	"context"
	"slices"
	"strings"
	"testing"
)

// TestInListFewShapes: an IN list takes a power of two of placeholders,
// padded with its last value, so lists of 1 to 100 values take 8 texts,
// and the padded list selects exactly the rows the values name.
func TestInListFewShapes(t *testing.T) {
	db := openSQLiteForTest(t)
	if _, err := db.write.Exec("CREATE TABLE names (name TEXT NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	var all []string
	for i := range 200 {
		all = append(all, strings.Repeat("n", i+1))
		if _, err := db.write.Exec("INSERT INTO names (name) VALUES (?)", all[i]); err != nil {
			t.Fatal(err)
		}
	}
	texts := map[string]bool{}
	for n := 1; n <= 100; n++ {
		in, args := inList(all[:n])
		texts[in] = true
		if k := strings.Count(in, "?"); k < n || k != len(args) || k&(k-1) != 0 {
			t.Fatalf("%d values: %d placeholders and %d arguments, want one power of two at least %d", n, k, len(args), n)
		}
		rows, err := db.read.QueryContext(context.Background(), "SELECT name FROM names WHERE name IN ("+in+") ORDER BY length(name)", args...)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			got = append(got, s)
		}
		rows.Close()
		if !slices.Equal(got, all[:n]) {
			t.Fatalf("%d values selected %d rows, want exactly those values", n, len(got))
		}
	}
	if len(texts) != 8 {
		t.Fatalf("%d texts for lists of 1 to 100, want 8 (1, 2, 4, ..., 128 placeholders)", len(texts))
	}
}
