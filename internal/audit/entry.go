// Package audit is Bulwark's tamper-evident audit log (DATA-5, DATA-6,
// PRIV-2): the canonical encoding of entries, the Merkle tree over them
// (the algorithm of Certificate Transparency and the Go checksum database,
// golang.org/x/mod/sumdb/tlog), checkpoints in the C2SP tlog-checkpoint
// format signed with Ed25519 (sumdb/note), the sequencer that numbers
// committed entries into the tree, the replica sink that receives entries
// and checkpoints, and the verifiers for the primary, the replica and a
// tenant's export.
//
// The store writes entries in the business transaction; this package never
// touches SQL. It reaches the database through the Backend interface, which
// internal/store implements.
package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/bulwarkhq/bulwark"
)

// Version is the leaf encoding version, the "v" member of every leaf.
const Version = 1

// Entry is an audit entry as stored: the public fields of
// bulwark.AuditEntry plus the sealed client address and user agent.
type Entry struct {
	Seq        int64
	Time       time.Time
	Tenant     string
	ActorKind  string
	ActorID    string
	ActorHow   string
	Action     string
	TargetKind string
	TargetID   string
	Fields     []string
	Outcome    string
	RequestID  string
	Privileged bool
	// Client and UserAgent are sealed (see Sealer): never a clear value.
	Client    string
	UserAgent string
}

// TimeFormat is the one format of times in leaves: UTC, microseconds.
const TimeFormat = "2006-01-02T15:04:05.000000Z"

// leaf is the canonical JSON form of an entry. Members are declared in
// lexicographic order and every member is always present, so encoding/json
// gives exactly one byte string per entry: keys sorted, no insignificant
// whitespace, integers only (RFC 8785 agrees for these value types).
// Entry.Leaf writes those bytes directly; ParseLeaf decodes through leaf.
type leaf struct {
	Action     string     `json:"action"`
	Actor      leafActor  `json:"actor"`
	Client     string     `json:"client"`
	Fields     []string   `json:"fields"`
	Outcome    string     `json:"outcome"`
	Privileged bool       `json:"privileged"`
	RequestID  string     `json:"request_id"`
	Seq        int64      `json:"seq"`
	Target     leafTarget `json:"target"`
	Tenant     string     `json:"tenant"`
	Time       string     `json:"time"`
	UserAgent  string     `json:"user_agent"`
	V          int        `json:"v"`
}

type leafActor struct {
	How  string `json:"how"`
	ID   string `json:"id"`
	Kind string `json:"kind"`
}

type leafTarget struct {
	ID   string `json:"id"`
	Kind string `json:"kind"`
}

// Leaf returns the canonical bytes of e: what the tree hashes, what the
// replica stores and what an export carries. It is one line of JSON: the
// members of leaf in their order, written by hand because the sequencer
// encodes every entry and reflection was most of that cost. The bytes are
// those encoding/json gives for leaf with HTML escaping off
// (TestLeafMatchesEncodingJSON, FuzzLeaf); a string that is not plain
// printable ASCII is left to encoding/json itself.
func (e *Entry) Leaf() []byte {
	// The members' names, punctuation, time and numbers take under 300
	// bytes: with every string's length added (unescaped), the leaf is
	// built in one allocation.
	n := 300 + len(e.Action) + len(e.ActorHow) + len(e.ActorID) + len(e.ActorKind) + len(e.Client) +
		len(e.Outcome) + len(e.RequestID) + len(e.TargetID) + len(e.TargetKind) + len(e.Tenant) + len(e.UserAgent)
	for _, f := range e.Fields {
		n += len(f) + 3
	}
	b := make([]byte, 0, n)
	b = appendLeafString(append(b, `{"action":`...), e.Action)
	b = appendLeafString(append(b, `,"actor":{"how":`...), e.ActorHow)
	b = appendLeafString(append(b, `,"id":`...), e.ActorID)
	b = appendLeafString(append(b, `,"kind":`...), e.ActorKind)
	b = appendLeafString(append(b, `},"client":`...), e.Client)
	b = append(b, `,"fields":[`...)
	for i, f := range e.Fields {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendLeafString(b, f)
	}
	b = appendLeafString(append(b, `],"outcome":`...), e.Outcome)
	b = strconv.AppendBool(append(b, `,"privileged":`...), e.Privileged)
	b = appendLeafString(append(b, `,"request_id":`...), e.RequestID)
	b = strconv.AppendInt(append(b, `,"seq":`...), e.Seq, 10)
	b = appendLeafString(append(b, `,"target":{"id":`...), e.TargetID)
	b = appendLeafString(append(b, `,"kind":`...), e.TargetKind)
	b = appendLeafString(append(b, `},"tenant":`...), e.Tenant)
	b = append(b, `,"time":"`...)
	b = append(e.Time.UTC().AppendFormat(b, TimeFormat), '"')
	b = appendLeafString(append(b, `,"user_agent":`...), e.UserAgent)
	b = strconv.AppendInt(append(b, `,"v":`...), Version, 10)
	return append(b, '}')
}

// appendLeafString appends s as a JSON string, as encoding/json writes it
// without HTML escaping.
func appendLeafString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			// HTML escaping is not part of the canonical form; a log line
			// holding '<' stays '<'. Control characters (CR, LF) are still
			// escaped, so one entry is always one line (ASVS V16.4.1).
			enc.SetEscapeHTML(false)
			if err := enc.Encode(s); err != nil {
				panic(fmt.Sprintf("audit: encode leaf: %v", err)) // a string cannot fail
			}
			return append(b, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// Hash returns the tree's leaf hash of e.
func (e *Entry) Hash() tlog.Hash { return tlog.RecordHash(e.Leaf()) }

// ParseLeaf decodes a leaf and checks that it is canonical: re-encoding it
// must give the same bytes, so a leaf cannot carry hidden members.
func ParseLeaf(b []byte) (*Entry, error) {
	var l leaf
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&l); err != nil {
		return nil, fmt.Errorf("decode audit leaf: %w", err)
	}
	if l.V != Version {
		return nil, fmt.Errorf("audit leaf version %d, want %d", l.V, Version)
	}
	t, err := time.Parse(TimeFormat, l.Time)
	if err != nil {
		return nil, fmt.Errorf("audit leaf time: %w", err)
	}
	e := &Entry{
		Seq: l.Seq, Time: t, Tenant: l.Tenant,
		ActorKind: l.Actor.Kind, ActorID: l.Actor.ID, ActorHow: l.Actor.How,
		Action: l.Action, TargetKind: l.Target.Kind, TargetID: l.Target.ID,
		Fields: l.Fields, Outcome: l.Outcome, RequestID: l.RequestID, Privileged: l.Privileged,
		Client: l.Client, UserAgent: l.UserAgent,
	}
	if !bytes.Equal(e.Leaf(), b) {
		return nil, fmt.Errorf("audit leaf at seq %d is not in canonical form", l.Seq)
	}
	return e, nil
}

// Public returns the entry as the API shows it. Sealed values are left out.
func (e *Entry) Public() *bulwark.AuditEntry {
	seq := e.Seq
	fields := e.Fields
	if fields == nil {
		fields = []string{}
	}
	return &bulwark.AuditEntry{
		Seq: &seq, Time: e.Time, Tenant: e.Tenant,
		Actor:  bulwark.AuditActor{Kind: e.ActorKind, ID: e.ActorID, How: e.ActorHow},
		Action: e.Action, Target: bulwark.AuditTarget{Kind: e.TargetKind, ID: e.TargetID},
		Fields: fields, Outcome: e.Outcome, RequestID: e.RequestID, Privileged: e.Privileged,
	}
}

// ActorHow says how a principal authenticated, for the actor's "how".
func ActorHow(p *bulwark.Principal) string {
	if p == nil {
		return ""
	}
	switch p.Kind {
	case bulwark.KindToken:
		return "token"
	case bulwark.KindSystem:
		return "cli"
	case bulwark.KindUser, bulwark.KindOperator:
		// SSO and break-glass logins will say so here once they exist;
		// today every user and operator principal comes from a session.
		return "session"
	}
	return strings.ToLower(string(p.Kind))
}
