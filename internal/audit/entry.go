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
// replica stores and what an export carries. It is one line of JSON.
func (e *Entry) Leaf() []byte {
	fields := e.Fields
	if fields == nil {
		fields = []string{}
	}
	l := leaf{
		Action:     e.Action,
		Actor:      leafActor{How: e.ActorHow, ID: e.ActorID, Kind: e.ActorKind},
		Client:     e.Client,
		Fields:     fields,
		Outcome:    e.Outcome,
		Privileged: e.Privileged,
		RequestID:  e.RequestID,
		Seq:        e.Seq,
		Target:     leafTarget{ID: e.TargetID, Kind: e.TargetKind},
		Tenant:     e.Tenant,
		Time:       e.Time.UTC().Format(TimeFormat),
		UserAgent:  e.UserAgent,
		V:          Version,
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	// HTML escaping is not part of the canonical form; a log line holding
	// '<' stays '<'. Control characters (CR, LF) are still escaped, so one
	// entry is always one line (ASVS V16.4.1).
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&l); err != nil {
		// Only strings, ints and bools: encoding cannot fail.
		panic(fmt.Sprintf("audit: encode leaf: %v", err))
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
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
