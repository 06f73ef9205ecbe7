package sso

import (
	"context"
	"sync"
	"time"

	"github.com/bulwarkhq/bulwark"
)

// memState is the State the sso unit tests use; the store's own
// implementation has its tests in internal/store.
type memState struct {
	mu   sync.Mutex
	now  func() time.Time
	reqs map[string]Request
	seen map[string]time.Time
}

func newMemState(now func() time.Time) *memState {
	return &memState{now: now, reqs: map[string]Request{}, seen: map[string]time.Time{}}
}

func (m *memState) SaveRequest(_ context.Context, r *Request) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reqs[r.ID] = *r
	return nil
}

func (m *memState) TakeRequest(_ context.Context, tenantID, providerID, id string) (*Request, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.reqs[id]
	if !ok || r.TenantID != tenantID || r.ProviderID != providerID || !m.now().Before(r.ExpiresAt) {
		return nil, bulwark.NotFound("request")
	}
	delete(m.reqs, id)
	return &r, nil
}

func (m *memState) SeeAssertion(_ context.Context, tenantID, issuer, id string, until time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := tenantID + "\x00" + issuer + "\x00" + id
	if u, ok := m.seen[k]; ok && m.now().Before(u) {
		return bulwark.Errorf(bulwark.EConflict, "assertion replayed")
	}
	m.seen[k] = until
	return nil
}
