package store

import (
	"context"
	"database/sql"
	"errors"
	"strconv"

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
	// Rewrapped counts the keysets wrapped again; Total the keysets to do.
	Rewrapped, Total int
	// Retired: older KEK versions were disabled.
	Retired bool
}

// RotateKEK re-wraps every tenant keyset under a new KEK version, without
// touching data. With a keeper that rotates itself (the key file) a new
// version is made first, unless keysets are still wrapped by an older one:
// then an interrupted rotation is resumed. A KMS or Vault rotates its key
// in the service; every keyset is then re-wrapped under its current
// version. With retire, older KEK versions are disabled afterwards, so
// keysets they wrapped (in old copies of the database) no longer open.
func (db *DB) RotateKEK(ctx context.Context, retire bool, progress func(KEKRotation)) (*KEKRotation, error) {
	if err := requireOperator(ctx); err != nil {
		return nil, err
	}
	ring, err := db.ring()
	if err != nil {
		return nil, err
	}
	keeper := ring.Keeper()
	rot, rotates := keeper.(keys.Rotator)
	ts, err := db.tenantRefs(ctx)
	if err != nil {
		return nil, err
	}
	p := bulwark.FromContext(ctx)
	// stale counts a tenant's keysets not wrapped by the current version.
	stale := func(ten tenantRef, all bool) (n int, err error) {
		err = db.inTenantID(ctx, ten.ID, p, false, func(t *tenantTx) error {
			rows, err := t.keyRows(lockNone)
			if errors.Is(err, errNoKeys) {
				return nil
			}
			for _, r := range rows {
				if all || r.kek != keeper.KeyID() {
					n++
				}
			}
			return err
		})
		return n, err
	}
	out := &KEKRotation{}
	pending := 0
	for _, ten := range ts {
		n, err := stale(ten, false)
		if err != nil {
			return nil, err
		}
		pending += n
	}
	if rotates && pending == 0 {
		if err := rot.RotateKEK(ctx); err != nil {
			return nil, &bulwark.Error{Code: bulwark.EUnavailable, Message: "could not make a new KEK version", Err: err}
		}
		out.Rotated = true
	}
	out.KEK = keeper.KeyID()
	todo := map[string]int{}
	for _, ten := range ts {
		n, err := stale(ten, !rotates)
		if err != nil {
			return nil, err
		}
		todo[ten.ID] = n
		out.Total += n
	}
	for _, ten := range ts {
		if todo[ten.ID] == 0 {
			continue
		}
		err := db.inTenantID(ctx, ten.ID, p, true, func(t *tenantTx) error {
			rows, err := t.keyRows(lockUpdate)
			if err != nil {
				return err
			}
			for _, r := range rows {
				if rotates && r.kek == keeper.KeyID() {
					continue
				}
				w, err := ring.Rewrap(t.ctx, r.w)
				if err != nil {
					return err
				}
				if err := t.saveKeyRow(r, w); err != nil {
					return err
				}
				out.Rewrapped++
			}
			return t.audit(auditEntry{Action: "keys.rewrap", TargetKind: "tenant_keys", TargetID: t.tenantID, Privileged: true})
		})
		if err != nil {
			return out, err
		}
		if progress != nil {
			progress(*out)
		}
	}
	// Deployment secrets sealed directly under the KEK move to the current
	// version too, before any old version is retired.
	if _, err := db.resealOperatorSecrets(ctx); err != nil {
		return out, err
	}
	if retire && rotates {
		if err := rot.RetireKEK(ctx); err != nil {
			return out, &bulwark.Error{Code: bulwark.EUnavailable, Message: "could not retire the old KEK versions", Err: err}
		}
		out.Retired = true
	}
	err = db.inGlobal(ctx, true, func(t *globalTx) error {
		return t.audit(auditEntry{Action: "keys.rotate_kek", TargetKind: "kek", TargetID: out.KEK, Privileged: true})
	})
	return out, err
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
