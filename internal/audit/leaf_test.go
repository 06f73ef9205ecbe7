package audit

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// leafJSON is the reference for Entry.Leaf: the leaf struct through
// encoding/json without HTML escaping, as leaves were first written.
func leafJSON(t testing.TB, e *Entry) []byte {
	fields := e.Fields
	if fields == nil {
		fields = []string{}
	}
	l := leaf{Action: e.Action, Actor: leafActor{How: e.ActorHow, ID: e.ActorID, Kind: e.ActorKind},
		Client: e.Client, Fields: fields, Outcome: e.Outcome, Privileged: e.Privileged, RequestID: e.RequestID,
		Seq: e.Seq, Target: leafTarget{ID: e.TargetID, Kind: e.TargetKind}, Tenant: e.Tenant,
		Time: e.Time.UTC().Format(TimeFormat), UserAgent: e.UserAgent, V: Version}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&l); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

var leafStrings = []string{"", "plain", `quote " and \ backslash`, "a<b>&c", "line\nbreak\r\t\b\f", "\x00\x01\x1f",
	"\x7f", "\u2028\u2029", "héllo wörld", "emoji 🎉", "bad utf-8 \xff\xfe", "\xed\xa0\x80", "/slash/"}

// TestLeafMatchesEncodingJSON: the hand-written leaf is byte for byte
// what encoding/json gives, for every kind of string, so that leaves
// written before and after it hash alike.
func TestLeafMatchesEncodingJSON(t *testing.T) {
	for i, s := range leafStrings {
		e := testEntry(int64(i))
		e.Action, e.ActorID, e.TargetID, e.Client, e.UserAgent = s, s, s, s, s
		e.Fields = []string{s, "x", s}
		e.Privileged = i%2 == 0
		e.Seq = int64(i) * 1_000_003
		e.Time = time.Date(2026, 11, 26, 12, 0, 0, i*1000, time.FixedZone("x", 3600))
		if got, want := e.Leaf(), leafJSON(t, e); !bytes.Equal(got, want) {
			t.Errorf("string %q:\n got %s\nwant %s", s, got, want)
		}
	}
	e := testEntry(1)
	e.Fields = nil
	if got, want := e.Leaf(), leafJSON(t, e); !bytes.Equal(got, want) {
		t.Errorf("no fields:\n got %s\nwant %s", got, want)
	}
}

func FuzzLeaf(f *testing.F) {
	for _, s := range leafStrings {
		f.Add(s, s, int64(len(s)), true)
	}
	f.Fuzz(func(t *testing.T, a, b string, seq int64, privileged bool) {
		e := &Entry{Seq: seq, Time: time.Unix(0, seq).UTC(), Tenant: a, ActorKind: b, ActorID: a, ActorHow: b,
			Action: a, TargetKind: b, TargetID: a, Fields: []string{a, b}, Outcome: b, RequestID: a,
			Privileged: privileged, Client: b, UserAgent: a}
		if got, want := e.Leaf(), leafJSON(t, e); !bytes.Equal(got, want) {
			t.Fatalf("got %s\nwant %s", got, want)
		}
	})
}

// BenchmarkLeaf: the sequencer encodes every entry once.
//
//	go test -run '^$' -bench Leaf ./internal/audit
func BenchmarkLeaf(b *testing.B) {
	e := testEntry(12345)
	e.Client = "aead:3:" + string(bytes.Repeat([]byte("A"), 120))
	b.Run("hand", func(b *testing.B) {
		for b.Loop() {
			e.Leaf()
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			leafJSON(b, e)
		}
	})
}
