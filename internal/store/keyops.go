package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/keys"
)

// Key operations for operators and the command line (DATA-3): rotation,
// KEK rotation, the key inventory, crypto-shredding. None of them shows or
// returns key material; none reads tenant data out of the process.

type tenantRef struct{ ID, Slug string }

// tenantRefs lists every tenant's id and slug.
func (db *DB) tenantRefs(ctx context.Context) ([]tenantRef, error) {
	var out []tenantRef
	err := db.inGlobal(ctx, false, func(t *globalTx) error {
		rows, err := t.query("SELECT id, slug FROM tenants ORDER BY slug")
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r tenantRef
			if err := rows.Scan(&r.ID, &r.Slug); err != nil {
				return err
			}
			out = append(out, r)
		}
		return rows.Err()
	})
	return out, err
}

func (db *DB) tenantRefBySlug(ctx context.Context, slug string) (tenantRef, error) {
	r := tenantRef{Slug: slug}
	err := db.inGlobal(ctx, false, func(t *globalTx) error {
		err := t.queryRow("SELECT id FROM tenants WHERE slug = ?", slug).Scan(&r.ID)
		if errors.Is(err, sql.ErrNoRows) {
			return bulwark.NotFound("tenant")
		}
		return err
	})
	return r, err
}

// RotateTenantKey gives the tenant slug a new primary data key and starts
// the re-seal job that moves every value to it (run it with Reseal, or let
// RunKeyJobs do it). New writes use the new key at once; values under the
// old key still open until the job has moved them, and then the old key is
// disabled. During a KMS outage it fails with EUnavailable.
func (db *DB) RotateTenantKey(ctx context.Context, slug string) (*bulwark.ResealProgress, error) {
	if err := requireOperator(ctx); err != nil {
		return nil, err
	}
	ring, err := db.ring()
	if err != nil {
		return nil, err
	}
	ten, err := db.tenantRefBySlug(ctx, slug)
	if err != nil {
		return nil, err
	}
	var prog bulwark.ResealProgress
	err = db.inTenantID(ctx, ten.ID, bulwark.FromContext(ctx), true, func(t *tenantTx) error {
		if _, err := t.tenantKeys(lockUpdate); err != nil { // makes them for an old tenant
			return err
		}
		rows, err := t.keyRows(lockUpdate)
		if err != nil {
			return err
		}
		data := rows[keys.PurposeData]
		w, id, err := ring.Rotate(t.ctx, data.w)
		if err != nil {
			return err
		}
		data.times[strconv.FormatUint(uint64(id), 10)] = micros(t.now)
		data.status = keysRotating
		data.rotated = sql.NullInt64{Int64: micros(t.now), Valid: true}
		if err := t.saveKeyRow(data, w); err != nil {
			return err
		}
		if err := t.startReseal(); err != nil {
			return err
		}
		j, err := t.job()
		if err != nil {
			return err
		}
		prog = j.progress()
		return t.audit(auditEntry{Action: "keys.rotate", TargetKind: "tenant_keys", TargetID: t.tenantID, Fields: []string{"data"}, Privileged: true})
	})
	if err != nil {
		return nil, err
	}
	return &prog, nil
}

// KEKRotation reports a KEK rotation's progress.
type KEKRotation struct {
	// Rotated: a new KEK version was made (false: an interrupted rotation
	// was resumed, or the keeper rotates in its own service).
	Rotated bool
	// KEK is the version that now wraps every keyset.
	KEK string
	// Rewrapped counts the keysets wrapped again; Total the keysets to do
	// (both grow if tenants made meanwhile need it too).
	Rewrapped, Total int
	// Retired: older KEK versions were disabled.
	Retired bool
}

// KEKSealed is a secret sealed under the KEK that the store does not keep,
// such as the audit log's keys in the data directory: RotateKEK seals it
// again under the current version, and retires no version that still
// seals it.
type KEKSealed struct {
	// Name says what it is, for errors (a file name).
	Name string
	// Reseal seals it again under the KEK's current version if another
	// version seals it.
	Reseal func(ctx context.Context) error
	// SealedBy names the KEK version that seals it now (keys.Ring.SealedBy);
	// "" when there is nothing sealed.
	SealedBy func(ctx context.Context) (string, error)
}

// kekPasses bounds the re-wrap passes (and the attempts to retire): each
// pass re-wraps what a running server made under an older version while
// the previous one ran, which takes a rotation racing a tenant's creation.
const kekPasses = 5

// RotateKEK re-wraps every tenant keyset under a new KEK version, without
// touching data, and seals every operator TOTP secret and every secret of
// outside under it again. With a keeper that rotates itself (the key file)
// a new version is made first, unless something is still wrapped by an
// older one: then an interrupted rotation is resumed. The tenants are
// listed again after each pass, until a pass finds nothing wrapped by an
// older version: a tenant that a running server creates meanwhile is
// re-wrapped too. A KMS or Vault rotates its key in the service; every
// keyset is then re-wrapped under its current version.
//
// With retire, older KEK versions are disabled afterwards, so keysets they
// wrapped (in old copies of the database) no longer open. The check that
// nothing is still wrapped or sealed by them and the retirement happen
// under the KEK lock (kekLockClass), which every write that wraps under
// the KEK holds too. If something still is, nothing is disabled and the
// error is EFailedPrecondition: run the command again.
func (db *DB) RotateKEK(ctx context.Context, retire bool, progress func(KEKRotation), outside ...KEKSealed) (*KEKRotation, error) {
	if err := requireOperator(ctx); err != nil {
		return nil, err
	}
	ring, err := db.ring()
	if err != nil {
		return nil, err
	}
	keeper := ring.Keeper()
	rot, rotates := keeper.(keys.Rotator)
	out := &KEKRotation{}
	if rotates {
		pending, err := db.kekStale(ctx, ring, outside)
		if err != nil {
			return nil, err
		}
		if pending.total() == 0 {
			if err := rot.RotateKEK(ctx); err != nil {
				return nil, &bulwark.Error{Code: bulwark.EUnavailable, Message: "could not make a new KEK version", Err: err}
			}
			out.Rotated = true
		}
	}
	out.KEK = ring.KEK()
	for attempt := 0; ; attempt++ {
		// Without a rotator the versions cannot be told apart: every
		// keyset is re-wrapped, once.
		for pass := 0; ; pass++ {
			n, err := db.rewrapPass(ctx, ring, !rotates, out, progress)
			if err != nil {
				return out, err
			}
			// Deployment secrets sealed directly under the KEK move to the
			// current version too, before any old version is retired.
			m, err := db.resealOperatorSecrets(ctx)
			if err != nil {
				return out, err
			}
			for _, o := range outside {
				if err := o.Reseal(ctx); err != nil {
					return out, fmt.Errorf("%s: %w", o.Name, err)
				}
			}
			if !rotates || n+m == 0 {
				break
			}
			if pass == kekPasses {
				return out, bulwark.Errorf(bulwark.EConflict, "keysets keep being wrapped by an older KEK version: try again")
			}
		}
		if !retire || !rotates {
			break
		}
		stale, err := db.retireKEK(ctx, ring, rot, outside)
		if err != nil {
			return out, err
		}
		if stale.total() == 0 {
			out.Retired = true
			break
		}
		if attempt == kekPasses {
			return out, &bulwark.Error{Code: bulwark.EFailedPrecondition,
				Message: fmt.Sprintf("not retiring the older KEK versions: %s still wrapped or sealed by one of them; nothing was disabled, run the command again", stale),
				Fields:  map[string]string{"kek": out.KEK}}
		}
	}
	err = db.inGlobal(ctx, true, func(t *globalTx) error {
		return t.audit(auditEntry{Action: "keys.rotate_kek", TargetKind: "kek", TargetID: out.KEK, Privileged: true})
	})
	return out, err
}

// kekCount counts what is wrapped or sealed by another KEK version than
// the current one.
type kekCount struct {
	keysets, operators int
	outside            []string
}

func (c kekCount) total() int { return c.keysets + c.operators + len(c.outside) }

func (c kekCount) String() string {
	var parts []string
	if c.keysets > 0 {
		parts = append(parts, strconv.Itoa(c.keysets)+" tenant keysets")
	}
	if c.operators > 0 {
		parts = append(parts, strconv.Itoa(c.operators)+" operator TOTP secrets")
	}
	parts = append(parts, c.outside...)
	return strings.Join(parts, ", ")
}

// staleKeysets counts the tenant's keysets wrapped by another KEK version
// than the current one (all: every keyset).
func (t *tenantTx) staleKeysets(ring *keys.Ring, mode lockMode, all bool) (int, error) {
	rows, err := t.keyRows(mode)
	if errors.Is(err, errNoKeys) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range rows {
		if all || ring.WrappedBy(r.w) != ring.KEK() {
			n++
		}
	}
	return n, nil
}

// kekStale counts, each in its own transaction, what is wrapped or sealed
// by another KEK version than the current one.
func (db *DB) kekStale(ctx context.Context, ring *keys.Ring, outside []KEKSealed) (kekCount, error) {
	var c kekCount
	ts, err := db.tenantRefs(ctx)
	if err != nil {
		return c, err
	}
	p := bulwark.FromContext(ctx)
	for _, ten := range ts {
		err := db.inTenantID(ctx, ten.ID, p, false, func(t *tenantTx) error {
			n, err := t.staleKeysets(ring, lockNone, false)
			c.keysets += n
			return err
		})
		if err != nil {
			return c, err
		}
	}
	err = db.inGlobal(ctx, false, func(t *globalTx) error {
		c.operators, err = t.staleOperatorSecrets(ring)
		return err
	})
	if err != nil {
		return c, err
	}
	return c, staleOutside(ctx, ring, outside, &c)
}

func staleOutside(ctx context.Context, ring *keys.Ring, outside []KEKSealed, c *kekCount) error {
	for _, o := range outside {
		v, err := o.SealedBy(ctx)
		if err != nil {
			return fmt.Errorf("%s: %w", o.Name, err)
		}
		if v != "" && v != ring.KEK() {
			c.outside = append(c.outside, o.Name)
		}
	}
	return nil
}

// rewrapPass lists the tenants and re-wraps every keyset wrapped by another
// KEK version than the current one (all: every keyset). It returns how
// many it re-wrapped.
func (db *DB) rewrapPass(ctx context.Context, ring *keys.Ring, all bool, out *KEKRotation, progress func(KEKRotation)) (int, error) {
	ts, err := db.tenantRefs(ctx)
	if err != nil {
		return 0, err
	}
	p := bulwark.FromContext(ctx)
	todo := map[string]int{}
	for _, ten := range ts {
		err := db.inTenantID(ctx, ten.ID, p, false, func(t *tenantTx) error {
			n, err := t.staleKeysets(ring, lockNone, all)
			todo[ten.ID] = n
			return err
		})
		if err != nil {
			return 0, err
		}
		out.Total += todo[ten.ID]
	}
	done := 0
	for _, ten := range ts {
		if todo[ten.ID] == 0 {
			continue
		}
		n := 0
		err := db.inTenantID(ctx, ten.ID, p, true, func(t *tenantTx) error {
			n = 0
			rows, err := t.keyRows(lockUpdate)
			if errors.Is(err, errNoKeys) {
				return nil // deleted meanwhile
			}
			if err != nil {
				return err
			}
			for _, purpose := range []keys.Purpose{keys.PurposeData, keys.PurposeIndex} {
				r := rows[purpose]
				if !all && ring.WrappedBy(r.w) == ring.KEK() {
					continue
				}
				w, err := ring.Rewrap(t.ctx, r.w)
				if err != nil {
					return err
				}
				if err := t.saveKeyRow(r, w); err != nil {
					return err
				}
				n++
			}
			if n == 0 {
				return nil
			}
			return t.audit(auditEntry{Action: "keys.rewrap", TargetKind: "tenant_keys", TargetID: t.tenantID, Privileged: true})
		})
		if err != nil {
			return done, err
		}
		done += n
		out.Rewrapped += n
		if progress != nil {
			progress(*out)
		}
	}
	return done, nil
}

// retireKEK disables every KEK version but the current one, unless
// something is still wrapped or sealed by one of them: then it returns
// what, and disables nothing. The check and the retirement happen in one
// write transaction holding the KEK lock exclusive (on SQLite, the single
// writer), so no keyset or secret wrapped under an older version is
// written between them (kekLockClass).
func (db *DB) retireKEK(ctx context.Context, ring *keys.Ring, rot keys.Rotator, outside []KEKSealed) (kekCount, error) {
	var c kekCount
	err := db.inGlobal(ctx, true, func(t *globalTx) error {
		c = kekCount{}
		if err := t.holdKEK(true); err != nil {
			return err
		}
		// The tenants committed before the lock was granted, each read in
		// its own scope (row-level security), in this transaction.
		ids, err := t.queryStrings("SELECT id FROM tenants ORDER BY id")
		if err != nil {
			return err
		}
		for _, id := range ids {
			if err := db.setTenant(&t.tx, id); err != nil {
				return err
			}
			tt := &tenantTx{tx: t.tx, tenantID: id, principal: t.principal}
			n, err := tt.staleKeysets(ring, lockNone, false)
			if err != nil {
				return err
			}
			c.keysets += n
		}
		if err := db.setTenant(&t.tx, ""); err != nil {
			return err
		}
		if c.operators, err = t.staleOperatorSecrets(ring); err != nil {
			return err
		}
		if err := staleOutside(t.ctx, ring, outside, &c); err != nil {
			return err
		}
		if c.total() > 0 {
			return nil
		}
		if err := rot.RetireKEK(t.ctx); err != nil {
			return &bulwark.Error{Code: bulwark.EUnavailable, Message: "could not retire the old KEK versions", Err: err}
		}
		return nil
	})
	return c, err
}

// DeleteTenant deletes the tenant slug and all its data, and first
// destroys its keysets (crypto-shredding, DESIGN.md "Keys"): every value
// it ever sealed, wherever a copy of the ciphertext survives (a stale
// replica, the WAL, a leaked dump made after this), can no longer be
// opened. Audit entries, which hold no values, stay. On SQLite the file is
// checkpointed afterwards, so the destroyed pages (zeroed by
// secure_delete) also leave the write-ahead log.
func (db *DB) DeleteTenant(ctx context.Context, slug string) error {
	if err := requireOperator(ctx); err != nil {
		return err
	}
	ten, err := db.tenantRefBySlug(ctx, slug)
	if err != nil {
		return err
	}
	err = db.inGlobal(ctx, true, func(t *globalTx) error {
		if err := t.audit(auditEntry{Action: "tenant.delete", TargetKind: "tenant", TargetID: ten.ID, Fields: []string{"slug"}, Privileged: true}); err != nil {
			return err
		}
		if err := db.setTenant(&t.tx, ten.ID); err != nil {
			return err
		}
		// Overwrite, then delete: the keyset bytes do not survive in a
		// page that the deletion merely unlinks.
		if _, err := t.exec("UPDATE tenant_keys SET keyset = ?, version = version + 1 WHERE tenant_id = ?", []byte{0}, ten.ID); err != nil {
			return err
		}
		if _, err := t.exec("DELETE FROM tenant_keys WHERE tenant_id = ?", ten.ID); err != nil {
			return err
		}
		// The salt of the audit log's fallback HMACs (audit_seal.go) too
		// (the tenant's row would take it with it; said here, next to the
		// keys, so that it does not rest on a foreign key alone).
		if _, err := t.exec("DELETE FROM audit_seal_salts WHERE tenant_id = ?", ten.ID); err != nil {
			return err
		}
		_, err := t.exec("DELETE FROM tenants WHERE id = ?", ten.ID)
		return err
	})
	if err != nil {
		return err
	}
	if db.opt.Keys != nil {
		db.opt.Keys.Forget(ten.ID)
	}
	if db.dialect.name() == "sqlite" {
		if _, err := db.write.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
			db.opt.Logger.Warn("checkpoint after tenant deletion", "err", err)
		}
	}
	return nil
}

// ListKeys is the key inventory: every tenant's keysets, their keys with
// status and creation time, the KEK version that wraps them and the last
// rotation. It reads only metadata, so it works during a KMS outage.
func (db *DB) ListKeys(ctx context.Context) ([]*bulwark.TenantKeyset, error) {
	if err := requireOperator(ctx); err != nil {
		return nil, err
	}
	ts, err := db.tenantRefs(ctx)
	if err != nil {
		return nil, err
	}
	out := []*bulwark.TenantKeyset{}
	for _, ten := range ts {
		err := db.inTenantID(ctx, ten.ID, bulwark.FromContext(ctx), false, func(t *tenantTx) error {
			rows, err := t.keyRows(lockNone)
			if errors.Is(err, errNoKeys) {
				return nil
			}
			if err != nil {
				return err
			}
			j, err := t.job()
			if err != nil {
				return err
			}
			for _, p := range []keys.Purpose{keys.PurposeData, keys.PurposeIndex} {
				r := rows[p]
				info, err := keys.Inspect(r.w)
				if err != nil {
					return err
				}
				ks := &bulwark.TenantKeyset{
					TenantID: ten.ID, TenantSlug: ten.Slug, Purpose: string(p), Algorithm: p.Algorithm(),
					Status: r.status, Env: r.w.Env, KEK: r.kek, CreatedAt: fromMicros(r.created),
				}
				if r.rotated.Valid {
					at := fromMicros(r.rotated.Int64)
					ks.RotatedAt = &at
				}
				times := keyTimes(r)
				for _, ki := range info {
					kv := bulwark.KeyVersion{ID: ki.ID, Status: ki.Status}
					if at, ok := times[ki.ID]; ok {
						c := fromMicros(at)
						kv.CreatedAt = &c
					}
					ks.Keys = append(ks.Keys, kv)
				}
				if p == keys.PurposeData && j != nil {
					prog := j.progress()
					ks.Reseal = &prog
				}
				out = append(out, ks)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
