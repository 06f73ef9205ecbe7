package bulwark

import (
	"context"
	"time"
)

// TenantKeyset describes one keyset of a tenant for the key inventory
// (DATA-3, GOV-7). It holds no key material: ids, statuses and dates only.
type TenantKeyset struct {
	TenantID   string `json:"tenant_id"`
	TenantSlug string `json:"tenant_slug"`
	// Purpose is "data" (seals field values) or "index" (blind indexes).
	Purpose   string `json:"purpose"`
	Algorithm string `json:"algorithm"`
	// Status is "active", or "rotating" while values are re-sealed under
	// a new primary key.
	Status string `json:"status"`
	// Env is the environment the keyset is bound to (DATA-4).
	Env string `json:"env"`
	// KEK names the key-encryption key version that wraps the keyset.
	KEK       string       `json:"kek"`
	Keys      []KeyVersion `json:"keys"`
	CreatedAt time.Time    `json:"created_at"`
	RotatedAt *time.Time   `json:"rotated_at,omitempty"`
	// Reseal is the progress of the background re-seal, if one ran.
	Reseal *ResealProgress `json:"reseal,omitempty"`
}

// KeyVersion is one key of a keyset.
type KeyVersion struct {
	ID uint32 `json:"id"`
	// Status is primary (seals new values), enabled (still opens older
	// values) or disabled (opens nothing).
	Status    string     `json:"status"`
	CreatedAt *time.Time `json:"created_at,omitempty"`
}

// ResealProgress is the state of a tenant's re-seal job, which moves every
// sealed value to the newest key and seals values of fields that became
// sensitive.
type ResealProgress struct {
	Done       int64      `json:"done"`
	Total      int64      `json:"total"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

// KeyService is the operators' view of encryption keys. It never shows
// key material.
type KeyService interface {
	ListKeys(ctx context.Context) ([]*TenantKeyset, error)
}
