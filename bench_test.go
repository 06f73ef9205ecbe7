package bulwark

import (
	"encoding/json"
	"testing"
	"time"
)

// Microbenchmarks of the hot pieces of a request, for benchstat:
//
//	go test -run '^$' -bench . -count 5 . | tee new.txt; benchstat old.txt new.txt

func BenchmarkCan(b *testing.B) {
	p := principalWith(Grant{Role: RoleViewer, Collection: "docs"}, Grant{Role: RoleEditor, Collection: "notes"})
	for b.Loop() {
		if !p.Can(PermRecordsWrite, "notes") {
			b.Fatal("denied")
		}
	}
}

var benchRecord = &Record{
	ID: "01a21659-4c52-7963-ad73-4d36fbacd3bb", Collection: "people", Version: 3,
	Data: map[string]any{"name": "Ada Lovelace", "age": 36.0, "vip": true,
		"born": "1815-12-10T00:00:00Z", "email": "ada@example.com"},
	CreatedAt: time.Unix(1700000000, 0).UTC(), UpdatedAt: time.Unix(1700000100, 0).UTC(),
}

func BenchmarkRecordEncode(b *testing.B) {
	for b.Loop() {
		if _, err := json.Marshal(benchRecord); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRecordDecodeValidate(b *testing.B) {
	body, _ := json.Marshal(benchRecord.Data)
	for b.Loop() {
		var in map[string]any
		if err := json.Unmarshal(body, &in); err != nil {
			b.Fatal(err)
		}
		if _, err := testCollection.ValidateData(in, false); err != nil {
			b.Fatal(err)
		}
	}
}
