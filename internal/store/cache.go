package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bulwarkhq/bulwark"
)

// The tenant cache: principals and collection scopes.
//
// Authenticating a session or an API token reads the secret, the user, the
// grants and the roles: a read transaction before every request's own, a
// fifth of all CPU under load; every record request then reads its
// collection's schema and key versions. The cache keeps resolved tenant
// principals by secret hash and collection scopes by name, and revocation
// stays immediate (ASVS V7.4.1, V8.3.2) because every write transaction in
// a tenant invalidates that tenant's entries when it commits, unless the
// transaction says it changes nothing a principal or a schema is made of
// (record writes, the last-use touch). Invalidating by default means a new
// write path cannot forget to; a deployment-level write (tenants,
// operators) invalidates every tenant.
//
// Races: a reader takes the tenant's generation before its read
// transaction and stores what it read only if the generation has not moved
// since, and the writer moves it after its commit; so an entry read before
// a revocation committed is never kept after it. Record writes that use a
// cached scope check it again in their own statement (records.go).
//
// PostgreSQL nodes share the database but not this cache: an invalidating
// transaction also calls pg_notify, which PostgreSQL delivers to every
// node's listener when (and only if) it commits. A node whose listener is
// not connected does not use its cache at all, so a missed notification
// can never leave a revoked credential usable; the propagation delay is the
// notification's (milliseconds on a LAN).
//
// Principals also expire by time: at the session's absolute or idle end,
// when its last use is due to be written again (touchEvery), and after
// authCacheMaxAge at most.

const (
	// authCacheMax bounds the entries; a full cache drops an arbitrary one.
	authCacheMax = 100_000
	// authCacheMaxAge bounds an entry's life whatever else happens.
	authCacheMaxAge = 5 * time.Minute
	// authChannel is the PostgreSQL notification channel; the payload is a
	// tenant id, or "*" for every tenant.
	authChannel = "bulwark_auth"
)

type tenantCache struct {
	mu      sync.Mutex
	enabled bool // PostgreSQL: only while the listener is proven to receive
	entries map[string]authEntry
	scopes  map[scopeKey]scopeEntry
	gens    map[string]uint64 // per tenant
	global  uint64
}

type scopeKey struct{ tenantID, collection string }

// scope is a collection with the versions of its tenant's keysets, and its
// fields as stored, which record writes compare to detect a change.
type scope struct {
	c                 *bulwark.Collection // shared: never modified
	fields            string
	dataVer, indexVer int64
}

type scopeEntry struct {
	scope
	gen, global uint64
}

type authEntry struct {
	p           bulwark.Principal
	gen, global uint64
	until       int64 // microseconds
	tenantID    string
}

// authGen is a snapshot of the generations that guard one tenant's entries.
type authGen struct{ tenant, global uint64 }

func newTenantCache(enabled bool) *tenantCache {
	return &tenantCache{enabled: enabled, entries: map[string]authEntry{}, scopes: map[scopeKey]scopeEntry{}, gens: map[string]uint64{}}
}

// get returns a copy of the principal cached for hash in tenantID, if it is
// still valid at now (microseconds).
func (c *tenantCache) get(tenantID, hash string, now int64) (*bulwark.Principal, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[hash]
	if !ok || !c.enabled {
		return nil, false
	}
	if e.tenantID != tenantID || e.gen != c.gens[tenantID] || e.global != c.global || now >= e.until {
		delete(c.entries, hash)
		return nil, false
	}
	p := e.p // the caller may change its copy; Grants is never written
	return &p, true
}

// snapshot returns tenantID's generations, to be given back to put.
func (c *tenantCache) snapshot(tenantID string) authGen {
	c.mu.Lock()
	defer c.mu.Unlock()
	return authGen{c.gens[tenantID], c.global}
}

// put caches p for hash until until, unless tenantID's entries have been
// invalidated since g was taken.
func (c *tenantCache) put(tenantID, hash string, g authGen, p *bulwark.Principal, until int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.enabled || g != (authGen{c.gens[tenantID], c.global}) {
		return
	}
	if len(c.entries) >= authCacheMax {
		dropOne(c.entries)
	}
	c.entries[hash] = authEntry{p: *p, gen: g.tenant, global: g.global, until: until, tenantID: tenantID}
}

// dropOne makes room in a full map by dropping an arbitrary entry.
func dropOne[K comparable, V any](m map[K]V) {
	for k := range m {
		delete(m, k)
		return
	}
}

// invalidate drops tenantID's entries; "" drops every tenant's.
func (c *tenantCache) invalidate(tenantID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if tenantID == "" {
		c.global++
		clear(c.entries)
		clear(c.scopes)
		return
	}
	c.gens[tenantID]++
}

// scope returns the cached scope of collection in tenantID.
func (c *tenantCache) scope(tenantID, collection string) (scope, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := scopeKey{tenantID, collection}
	e, ok := c.scopes[k]
	if !ok || !c.enabled {
		return scope{}, false
	}
	if e.gen != c.gens[tenantID] || e.global != c.global {
		delete(c.scopes, k)
		return scope{}, false
	}
	return e.scope, true
}

// putScope caches s, unless tenantID's entries have been invalidated since
// g was taken.
func (c *tenantCache) putScope(tenantID string, g authGen, s scope) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.enabled || g != (authGen{c.gens[tenantID], c.global}) {
		return
	}
	if len(c.scopes) >= authCacheMax {
		dropOne(c.scopes)
	}
	c.scopes[scopeKey{tenantID, s.c.Name}] = scopeEntry{s, g.tenant, g.global}
}

// dropScope forgets a scope a write found stale.
func (c *tenantCache) dropScope(tenantID, collection string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.scopes, scopeKey{tenantID, collection})
}

// setEnabled turns the cache on or off; either way it starts empty.
func (c *tenantCache) setEnabled(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.enabled = on
	c.global++
	clear(c.entries)
	clear(c.scopes)
}

// notifyAuthChange, in a PostgreSQL write transaction, tells every node's
// listener to invalidate tenantID ("" for all) when the transaction commits.
func (t *tx) notifyAuthChange(tenantID string) error {
	if t.db.dialect.name() != "postgres" {
		return nil
	}
	if tenantID == "" {
		tenantID = "*"
	}
	_, err := t.exec("SELECT pg_notify('"+authChannel+"', ?)", tenantID)
	return err
}

// listenAuthChanges keeps a PostgreSQL connection listening on authChannel
// until ctx ends, invalidating as notifications arrive. The cache is on
// only while the listener is known to receive: it must get the probes it
// sends through the ordinary pool (one at once, then every probeEvery)
// within probeWait, or it turns the cache off and connects again. This
// also catches a path that accepts LISTEN but never delivers (a pooler in
// transaction mode), and bounds how long a silently broken listener can
// leave stale entries in use: probeEvery + probeWait.
func (db *DB) listenAuthChanges(ctx context.Context, dsn string) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		worked, err := db.listenOnce(ctx, dsn)
		db.cache.setEnabled(false)
		if ctx.Err() != nil {
			return
		}
		if worked {
			backoff = 100 * time.Millisecond
		}
		db.opt.Logger.Warn("principal cache off: the invalidation listener stopped; retrying", "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

const (
	probeEvery = 5 * time.Second
	probeWait  = 2 * time.Second
)

// listenOnce listens on one connection until it fails; worked reports
// whether a probe came through (the cache was on).
func (db *DB) listenOnce(ctx context.Context, dsn string) (worked bool, err error) {
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	conn, err := pgx.Connect(cctx, dsn)
	if err != nil {
		return false, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(cctx, "LISTEN "+authChannel); err != nil {
		return false, err
	}
	var mu sync.Mutex
	var want string // the probe in flight, "" when none
	var failure error
	go func() { // the prober: sends probes, ends the connection on a miss
		t := time.NewTicker(probeEvery)
		defer t.Stop()
		for {
			mu.Lock()
			if want != "" {
				failure = errors.New("a probe notification did not arrive in time")
				mu.Unlock()
				cancel()
				return
			}
			want = "probe:" + newID()
			token := want
			mu.Unlock()
			if _, err := db.write.ExecContext(cctx, db.rebind("SELECT pg_notify(?, ?)"), authChannel, token); err != nil {
				mu.Lock()
				failure = fmt.Errorf("send a probe notification: %w", err)
				mu.Unlock()
				cancel()
				return
			}
			select {
			case <-cctx.Done():
				return
			case <-time.After(probeWait):
			}
			mu.Lock()
			missed := want == token
			mu.Unlock()
			if missed {
				continue // fails at the top of the loop
			}
			select {
			case <-cctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	for {
		n, err := conn.WaitForNotification(cctx)
		if err != nil {
			mu.Lock()
			defer mu.Unlock()
			if failure != nil {
				return worked, failure
			}
			return worked, err
		}
		switch {
		case strings.HasPrefix(n.Payload, "probe:"):
			mu.Lock()
			if n.Payload == want {
				want = ""
				if !worked {
					// Anything committed before LISTEN took effect was
					// never notified: the cache starts empty.
					db.cache.setEnabled(true)
					worked = true
				}
			}
			mu.Unlock()
		case n.Payload == "*":
			db.cache.invalidate("")
		default:
			db.cache.invalidate(n.Payload)
		}
	}
}
