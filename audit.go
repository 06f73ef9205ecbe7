package bulwark

import (
	"context"
	"io"
	"time"
)

// Audit outcomes.
const (
	OutcomeSuccess = "success" // the change was made
	OutcomeFailure = "failure" // an authentication attempt failed
	OutcomeDenied  = "denied"  // authorization refused the request
)

// AuditActor is who did something, and how they proved it: "session",
// "token", "sso", "break-glass" or "cli".
type AuditActor struct {
	Kind string `json:"kind"`
	ID   string `json:"id"`
	How  string `json:"how"`
}

// AuditTarget is what was acted upon.
type AuditTarget struct {
	Kind string `json:"kind"`
	ID   string `json:"id"`
}

// AuditEntry is one entry of the tamper-evident audit log (DATA-5, PRIV-2).
// It names changed fields, never their values; the client address and user
// agent are personal data and are only ever stored sealed.
type AuditEntry struct {
	// Seq is the entry's index in the Merkle tree, nil until the sequencer
	// has integrated it (normally within a second of the commit).
	Seq        *int64      `json:"seq"`
	Time       time.Time   `json:"time"`
	Tenant     string      `json:"tenant,omitempty"`
	Actor      AuditActor  `json:"actor"`
	Action     string      `json:"action"`
	Target     AuditTarget `json:"target"`
	Fields     []string    `json:"fields"`
	Outcome    string      `json:"outcome"`
	RequestID  string      `json:"request_id"`
	Privileged bool        `json:"privileged"`
	// Client and UserAgent are the request's client address and user
	// agent, opened from their sealed form for the tenant's own readers
	// (audit.read). They are empty when nothing was recorded, for
	// deployment-level entries, and once the tenant's keys are destroyed.
	Client    string `json:"client,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`
}

// AuditFilter selects audit entries. Empty fields do not filter.
type AuditFilter struct {
	// Tenant is a tenant id; only the cross-tenant search of security
	// operators takes it (a tenant's own search is its tenant).
	Tenant  string
	Actor   string // actor id
	Action  string // exact action, or a prefix ending in '.', such as "record."
	Target  string // target id
	Outcome string
	// RequestID selects the entries of one request (its X-Request-Id).
	RequestID string
	Since     time.Time // inclusive
	Until     time.Time // exclusive
	Limit     int
	Cursor    string
}

// Denial is an authorization refusal to be recorded (ASVS V16.3.2).
type Denial struct {
	// Action is what was attempted, such as "GET /api/v1/users".
	Action string
	// Permission is the permission that was missing, if one was.
	Permission Permission
	TargetKind string
	TargetID   string
}

// AuditService reads the caller's tenant's audit log and records refusals.
type AuditService interface {
	// SearchAudit lists the caller's tenant's entries, newest first.
	SearchAudit(ctx context.Context, f AuditFilter) ([]*AuditEntry, string, error)
	// ExportAudit writes the caller's tenant's integrated entries as JSON
	// Lines, each with an inclusion proof against one signed checkpoint.
	ExportAudit(ctx context.Context, w io.Writer) error
	// RecordDenial records that the principal in ctx was refused. It is
	// written in its own transaction: there is no change to attach it to.
	RecordDenial(ctx context.Context, d Denial) error
	// SearchAllAudit lists entries of every tenant and of the deployment,
	// newest first, for operators with the security role. The search is
	// itself recorded (who searched, which filters by name) before any
	// entry is returned. Sealed client fields are never opened here.
	SearchAllAudit(ctx context.Context, f AuditFilter) ([]*AuditEntry, string, error)
}
