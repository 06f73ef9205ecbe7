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

// TestInsertRowsFewShapes: however many rows the sequencer's index inserts
// take (they vary from round to round), insertRows writes them all with a
// few statement texts, a power of two of rows each, so that they do not
// fill the process-wide statement cache (stmts.go).
func TestInsertRowsFewShapes(t *testing.T) {
	db := openSQLiteForTest(t)
	if _, err := db.write.Exec("CREATE TABLE shapes (a INTEGER NOT NULL, b INTEGER NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	want := 0
	for n := 1; n <= 150; n++ {
		args := make([]any, 0, 2*n)
		for i := range n {
			args = append(args, n, i)
		}
		want += n
		if err := db.run(context.Background(), true, nil, func(t *tx) error {
			return t.insertRows("INSERT INTO shapes (a, b)", "", 2, args, 100)
		}); err != nil {
			t.Fatal(err)
		}
	}
	var got, wrong int
	if err := db.read.QueryRow("SELECT count(*), count(*) FILTER (WHERE b >= a) FROM shapes").Scan(&got, &wrong); err != nil || got != want || wrong != 0 {
		t.Fatalf("%d rows (%d wrong), want %d (%v)", got, wrong, want, err)
	}
	db.stmts.wg.Wait()
	db.stmts.mu.Lock()
	defer db.stmts.mu.Unlock()
	shapes := 0
	for k := range db.stmts.stmts {
		if strings.HasPrefix(k.q, "INSERT INTO shapes") {
			shapes++
		}
	}
	// 1, 2, 4, ..., 64 rows.
	if shapes > 7 {
		t.Fatalf("%d statement texts cached for the inserts, want at most 7", shapes)
	}
}
