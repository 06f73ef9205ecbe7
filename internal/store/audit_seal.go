package store

import (
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/keys"
)

// An audit entry's client address and user agent are personal data
// (DATA-5). In a tenant's entry both are sealed together, once, with the
// tenant's data key (AES-256-GCM through Tink, like every other value of
// the tenant), and stored in the client column as
//
//	aead:<key id>:<base64 ciphertext>
//
// with user_agent left empty. Deleting the tenant destroys its keys, so
// the pair can no longer be opened by anyone (crypto-shredding), while the
// entry itself, which the tree hashes as stored, still verifies. The key
// id is written in clear so that retiring old data keys can see which
// keys entries still need (entries are immutable: they cannot be
// re-sealed under a new key, so a key that sealed an entry stays enabled).
//
// The associated data binds the pair to the environment and tenant (as
// every seal does) and to its entry: the request id and the entry's time
// (microseconds), both in the leaf. A sealed pair copied into another
// entry, or another tenant's log, does not open.
//
// Deployment-level entries (operators, the system, tenant creation and
// deletion) have no tenant key: they keep the deployment sealer
// (AuditOptions.Sealer, a keyed HMAC under the deployment key), and so do
// a tenant's entries in the rare case that its keys cannot be had (the KMS
// is unreachable and they are not cached): the entry is still written,
// the change is not refused for it. A tenant's HMACs also depend on a
// random salt of the tenant's (auditSalt), deleted with the tenant, so
// they are shredded with it too.

const auditAEADPrefix = "aead:"

// auditSealBinding is where a tenant entry's sealed pair lives.
func auditSealBinding(requestID string, atMicros int64) keys.Binding {
	return keys.Binding{Collection: "_audit_log", Field: "client", Record: requestID + "@" + strconv.FormatInt(atMicros, 10)}
}

// sealClient returns the stored client and user_agent columns of an
// entry written in t for tenantID (nil: deployment level).
func (t *tx) sealClient(tenantID *string, ri bulwark.RequestInfo) (client, agent string, err error) {
	if ri.ClientIP == "" && ri.UserAgent == "" {
		return "", "", nil
	}
	var tt *tenantTx
	if tenantID != nil {
		tt = &tenantTx{tx: *t, tenantID: *tenantID}
	}
	if tt != nil && t.db.opt.Keys != nil {
		client, err = tt.sealClientPair(ri)
		if err == nil {
			return client, "", nil
		}
		var be *bulwark.Error
		if !errors.As(err, &be) || be.Code != bulwark.EUnavailable {
			return "", "", fmt.Errorf("seal audit client fields: %w", err)
		}
		// The KMS is down and the tenant's keys are not cached: fall back
		// to the deployment sealer rather than refuse the change.
	}
	s := t.db.opt.Audit.Sealer
	if s == nil {
		return "", "", nil
	}
	tid, salt := "", []byte(nil)
	if tt != nil {
		tid = tt.tenantID
		if salt, err = tt.auditSalt(); err != nil {
			return "", "", fmt.Errorf("seal audit client fields: %w", err)
		}
	}
	if client, err = s.Seal(tid, salt, "client", ri.ClientIP); err != nil {
		return "", "", fmt.Errorf("seal audit client address: %w", err)
	}
	if agent, err = s.Seal(tid, salt, "user_agent", ri.UserAgent); err != nil {
		return "", "", fmt.Errorf("seal audit user agent: %w", err)
	}
	return client, agent, nil
}

// auditSalt is the tenant's salt for the deployment sealer (migration
// 00014), made on first use. Deleting the tenant deletes it, so the HMACs
// sealed with it can no longer be recomputed from a guessed address.
func (t *tenantTx) auditSalt() ([]byte, error) {
	var salt []byte
	err := t.queryRow("SELECT salt FROM audit_seal_salts WHERE tenant_id = ?", t.tenantID).Scan(&salt)
	if err != sql.ErrNoRows {
		return salt, err
	}
	// The first: made here. A concurrent transaction (PostgreSQL) may make
	// it first; then its salt is kept and read back.
	salt = make([]byte, 32)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	if _, err := t.exec("INSERT INTO audit_seal_salts (tenant_id, salt) VALUES (?, ?) ON CONFLICT (tenant_id) DO NOTHING", t.tenantID, salt); err != nil {
		return nil, err
	}
	if err := t.queryRow("SELECT salt FROM audit_seal_salts WHERE tenant_id = ?", t.tenantID).Scan(&salt); err != nil {
		return nil, err
	}
	return salt, nil
}

// clientPair is the plaintext of a sealed pair.
type clientPair struct {
	Client    string `json:"c"`
	UserAgent string `json:"ua"`
}

// marshal is json.Marshal(p), written directly: it runs on every audited
// write (rowjson.go).
func (p clientPair) marshal() []byte {
	b := make([]byte, 0, 16+len(p.Client)+len(p.UserAgent))
	b = appendJSONString(append(b, `{"c":`...), p.Client)
	b = appendJSONString(append(b, `,"ua":`...), p.UserAgent)
	return append(b, '}')
}

func (t *tenantTx) sealClientPair(ri bulwark.RequestInfo) (string, error) {
	// This runs on every audited write, so it takes the tenant's keys
	// from the ring's cache when they are there, without reading
	// tenant_keys (which costs a query, on PostgreSQL a round trip). They
	// may be up to one cache TTL behind a rotation made on another node:
	// harmless here, since any enabled key of the tenant may seal the
	// pair, and a key that sealed an entry is never retired. After the
	// tenant's deletion a stale copy can seal only under destroyed keys.
	k, ok := t.db.opt.Keys.Current(t.tenantID)
	if !ok {
		var err error
		if k, err = t.tenantKeys(lockShare); err != nil {
			return "", err
		}
	}
	ct, err := k.Seal(clientPair{Client: ri.ClientIP, UserAgent: ri.UserAgent}.marshal(), auditSealBinding(ri.ID, micros(t.now)))
	if err != nil {
		return "", err
	}
	return auditAEADPrefix + strconv.FormatUint(uint64(k.Primary()), 10) + ":" + base64.StdEncoding.EncodeToString(ct), nil
}

// clientOpener opens the sealed pairs of one tenant's entries for a
// search, loading the tenant's keys on first need.
type clientOpener struct {
	t      *tenantTx
	k      *keys.TenantKeys
	failed bool
}

// open fills e's client address and user agent from stored, when stored
// is a sealed pair that opens. A pair that does not open (its key was
// retired or destroyed, or it was moved) is left out: the entry is still
// shown.
func (o *clientOpener) open(e *bulwark.AuditEntry, stored string) {
	rest, ok := strings.CutPrefix(stored, auditAEADPrefix)
	if !ok || o.failed {
		return
	}
	_, b64, ok := strings.Cut(rest, ":")
	if !ok {
		return
	}
	if o.k == nil {
		k, err := o.t.tenantKeys(lockNone)
		if err != nil {
			o.failed = true
			return
		}
		o.k = k
	}
	ct, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return
	}
	pt, err := o.k.Open(ct, auditSealBinding(e.RequestID, micros(e.Time)))
	if err != nil {
		return
	}
	var p clientPair
	if json.Unmarshal(pt, &p) == nil {
		e.Client, e.UserAgent = p.Client, p.UserAgent
	}
}

// auditKeyIDs adds to ids the enabled data keys of w that sealed one of
// the tenant's audit entries: they must stay enabled (see above). It runs
// when a re-seal job ends, one indexed probe per enabled older key.
func (t *tenantTx) auditKeyIDs(w keys.Wrapped, ids map[uint32]bool) error {
	info, err := keys.Inspect(w)
	if err != nil {
		return err
	}
	for _, ki := range info {
		if ki.Status != keys.StatusEnabled || ids[ki.ID] {
			continue
		}
		var one int
		prefix := auditAEADPrefix + strconv.FormatUint(uint64(ki.ID), 10) + ":"
		if t.queue != nil && t.queue.sealedWith(t.tenantID, prefix) {
			ids[ki.ID] = true // in this batch, not inserted yet (audit_queue.go)
			continue
		}
		prefix += "%"
		q, args := "SELECT 1 FROM audit_log WHERE tenant_id = ? AND client LIKE ? LIMIT 1", []any{t.tenantID, prefix}
		if t.db.numbersAtInsert() {
			// Integrated and pending entries apart, as the search reads them.
			q = "SELECT 1 FROM " + sqliteTenantEntries + " WHERE tenant = ? AND client LIKE ?" +
				" UNION ALL SELECT 1 FROM audit_log WHERE " + t.db.auditPending() + " AND tenant_id = ? AND client LIKE ? LIMIT 1"
			args = append(args, t.tenantID, prefix)
		}
		err := t.queryRow(q, args...).Scan(&one)
		switch {
		case err == nil:
			ids[ki.ID] = true
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
	}
	return nil
}
