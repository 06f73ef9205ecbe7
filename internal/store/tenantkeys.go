package store

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/keys"
)

// A tenant's keysets live in tenant_keys, wrapped by the KEK (see package
// keys). Every transaction that seals or opens reads the rows again (a
// primary-key read of two small rows) and hands them to the Ring, which
// unwraps them only when their version changed or its cache entry
// expired: a rotation made by another node or process is seen at once.

// keyRow is one row of tenant_keys.
type keyRow struct {
	w       keys.Wrapped
	kek     string
	times   map[string]int64 // key id -> created_at (micros)
	status  string
	created int64
	rotated sql.NullInt64
}

// Keyset statuses in tenant_keys.
const (
	keysActive   = "active"
	keysRotating = "rotating"
)

// lockMode says how a transaction reads tenant_keys on PostgreSQL.
type lockMode int

const (
	// lockNone: a read-only transaction.
	lockNone lockMode = iota
	// lockShare: a write that seals. It holds the tenant's key lock
	// shared, so a change of the keyset (a rotation, retiring old keys)
	// waits for it: no value is ever written under a key being retired.
	lockShare
	// lockUpdate: a change of the keyset itself; the key lock exclusive.
	lockUpdate
)

// keyLockClass is the first key of the PostgreSQL advisory lock that
// guards a tenant's keyset ("BWKS"); the second is a hash of the tenant
// id. Two-key advisory locks do not overlap the one-key space. A
// transaction-level advisory lock costs no write, unlike SELECT ... FOR
// SHARE, which every sealing write would otherwise pay.
const keyLockClass = 0x42574b53

// kekLockClass ("BWKK", second key 0) is the PostgreSQL advisory lock
// that orders writes of anything wrapped or sealed under the KEK against
// the retirement of KEK versions (RotateKEK): every such write holds it
// shared from before it wraps until it commits, and the final check
// before a retirement holds it exclusive. So a keyset or secret wrapped
// under a version about to be retired is either committed before that
// check, which sees it and refuses, or is written after the retirement,
// when the version it checks against is the new one. On SQLite the
// single writer (BEGIN IMMEDIATE) orders them the same way.
const kekLockClass = 0x42574b4b

// holdKEK takes the KEK lock (kekLockClass) for the rest of the
// transaction: shared for a write that wraps or seals under the KEK,
// exclusive for the check before a retirement.
func (t *tx) holdKEK(exclusive bool) error {
	if t.db.dialect.name() != "postgres" {
		return nil
	}
	fn := "pg_advisory_xact_lock_shared"
	if exclusive {
		fn = "pg_advisory_xact_lock"
	}
	_, err := t.exec("SELECT " + fn + "(" + fmt.Sprint(kekLockClass) + ", 0)")
	return err
}

// errKEKMoved: a keyset made outside the transaction was wrapped by a KEK
// version that is no longer the current one; make it again.
var errKEKMoved = errors.New("the KEK version changed while the keys were made")

func (db *DB) ring() (*keys.Ring, error) {
	if db.opt.Keys == nil {
		return nil, bulwark.Errorf(bulwark.EFailedPrecondition,
			"no key-encryption key is configured (--kek, --env): tenant keys cannot be created or used")
	}
	return db.opt.Keys, nil
}

// errNoKeys: the tenant has no keysets (made before encryption existed).
var errNoKeys = errors.New("the tenant has no keys")

// keyRows reads the tenant's keysets.
func (t *tenantTx) keyRows(mode lockMode) (map[keys.Purpose]*keyRow, error) {
	q := "SELECT purpose, env, version, keyset, kek, key_times, status, created_at, rotated_at FROM tenant_keys WHERE tenant_id = ?"
	args := []any{t.tenantID}
	if mode == lockUpdate {
		// The keyset will be wrapped again: under the KEK lock, so that
		// no retirement of the version it uses passes meanwhile.
		if err := t.holdKEK(false); err != nil {
			return nil, err
		}
	}
	if t.db.dialect.name() == "postgres" && mode != lockNone {
		// The lock is taken in the same statement (no extra round trip).
		fn := "pg_advisory_xact_lock_shared"
		if mode == lockUpdate {
			fn = "pg_advisory_xact_lock"
			q += " FOR UPDATE"
		}
		q = "WITH l AS (SELECT " + fn + "(" + fmt.Sprint(keyLockClass) + ", hashtext(?)))" + strings.Replace(q, "FROM tenant_keys", "FROM tenant_keys, l", 1)
		args = append([]any{t.tenantID}, args...)
	}
	rows, err := t.query(q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[keys.Purpose]*keyRow{}
	for rows.Next() {
		r := &keyRow{w: keys.Wrapped{Tenant: t.tenantID}}
		var purpose, times string
		if err := rows.Scan(&purpose, &r.w.Env, &r.w.Version, &r.w.Keyset, &r.kek, &times, &r.status, &r.created, &r.rotated); err != nil {
			return nil, err
		}
		r.w.Purpose = keys.Purpose(purpose)
		if err := json.Unmarshal([]byte(times), &r.times); err != nil {
			return nil, fmt.Errorf("tenant_keys.key_times: %w", err)
		}
		out[r.w.Purpose] = r
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if out[keys.PurposeData] == nil || out[keys.PurposeIndex] == nil {
		return nil, errNoKeys
	}
	return out, nil
}

// tenantKeys returns the tenant's unwrapped keys. A tenant made before
// encryption existed gets its keysets here, in a write transaction, and a
// re-seal job that seals the values it already has.
func (t *tenantTx) tenantKeys(mode lockMode) (*keys.TenantKeys, error) {
	ring, err := t.db.ring()
	if err != nil {
		return nil, err
	}
	rows, err := t.keyRows(mode)
	if errors.Is(err, errNoKeys) && mode != lockNone {
		if err := t.createKeys(ring); err != nil {
			return nil, err
		}
		if err := t.startReseal(); err != nil {
			return nil, err
		}
		rows, err = t.keyRows(mode)
	}
	if err != nil {
		return nil, err
	}
	return ring.Tenant(t.ctx, rows[keys.PurposeData].w, rows[keys.PurposeIndex].w)
}

// createKeys makes and stores the tenant's keysets. It calls the keeper:
// during a KMS outage it fails with EUnavailable.
func (t *tenantTx) createKeys(ring *keys.Ring) error {
	if err := t.holdKEK(false); err != nil {
		return err
	}
	data, index, err := ring.NewTenant(t.ctx, t.tenantID)
	if err != nil {
		return err
	}
	return t.insertKeys(ring, data, index, true)
}

// insertKeys stores new keysets made by Ring.NewTenant, under the KEK
// lock, recording the KEK version that wrapped each. One wrapped by
// another version than the current one (a rotation passed since) is
// wrapped again when rewrap is set (it was made under the lock, so its
// version is not retired), and is refused with errKEKMoved otherwise.
func (t *tenantTx) insertKeys(ring *keys.Ring, data, index keys.Wrapped, rewrap bool) error {
	if err := t.holdKEK(false); err != nil {
		return err
	}
	for _, w := range []keys.Wrapped{data, index} {
		w, err := t.currentWrap(ring, w, rewrap)
		if err != nil {
			return err
		}
		kek := ring.WrappedBy(w)
		primary, err := keys.PrimaryOf(w)
		if err != nil {
			return err
		}
		times, _ := json.Marshal(map[string]int64{strconv.FormatUint(uint64(primary), 10): micros(t.now)})
		if _, err := t.exec(`INSERT INTO tenant_keys (tenant_id, purpose, env, version, keyset, kek, key_times, status, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			t.tenantID, string(w.Purpose), w.Env, w.Version, w.Keyset, kek, string(times), keysActive, micros(t.now)); err != nil {
			return fmt.Errorf("store tenant keys: %w", err)
		}
	}
	return nil
}

// currentWrap returns w wrapped by the KEK's current version: w itself,
// or (rewrap) w wrapped again; without rewrap a stale w is errKEKMoved.
// The caller holds the KEK lock.
func (t *tx) currentWrap(ring *keys.Ring, w keys.Wrapped, rewrap bool) (keys.Wrapped, error) {
	for range 3 {
		if ring.WrappedBy(w) == ring.KEK() {
			return w, nil
		}
		if !rewrap {
			return w, errKEKMoved
		}
		var err error
		if w, err = ring.Rewrap(t.ctx, w); err != nil {
			return w, err
		}
	}
	return w, bulwark.Errorf(bulwark.EConflict, "the key-encryption key keeps changing: try again")
}

// saveKeyRow writes a changed keyset. The version condition makes a
// concurrent change fail rather than be lost.
func (t *tenantTx) saveKeyRow(r *keyRow, w keys.Wrapped) error {
	times, err := json.Marshal(r.times)
	if err != nil {
		return err
	}
	ring, err := t.db.ring()
	if err != nil {
		return err
	}
	if err := t.holdKEK(false); err != nil {
		return err
	}
	if w, err = t.currentWrap(ring, w, true); err != nil {
		return err
	}
	res, err := t.exec(`UPDATE tenant_keys SET version = ?, keyset = ?, kek = ?, key_times = ?, status = ?, rotated_at = ?
		WHERE tenant_id = ? AND purpose = ? AND version = ?`,
		w.Version, w.Keyset, ring.WrappedBy(w), string(times), r.status, r.rotated,
		t.tenantID, string(w.Purpose), r.w.Version)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return bulwark.Errorf(bulwark.EConflict, "the tenant's keys changed meanwhile: try again")
	}
	r.w = w
	return nil
}

// Sealing values that are not records (Bulwark's own secrets: MFA
// secrets, SSO client secrets and keys) uses the same keys with a
// binding of its own: Collection names the table with a leading '_'
// (never a valid collection id), Field the column, Record the row.

// sealSecret seals a value of one of Bulwark's own tables.
func (t *tenantTx) sealSecret(table, column, row string, plaintext []byte) ([]byte, error) {
	k, err := t.tenantKeys(lockShare)
	if err != nil {
		return nil, err
	}
	return k.Seal(plaintext, secretBinding(table, column, row))
}

// openSecret opens a value sealed by sealSecret.
func (t *tenantTx) openSecret(table, column, row string, ciphertext []byte) ([]byte, error) {
	k, err := t.tenantKeys(lockNone)
	if err != nil {
		return nil, err
	}
	return k.Open(ciphertext, secretBinding(table, column, row))
}

// secretBinding binds a value sealed by sealSecret to its table, column
// and row.
func secretBinding(table, column, row string) keys.Binding {
	return keys.Binding{Collection: "_" + table, Field: column, Record: row}
}
