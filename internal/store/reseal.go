package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/keys"
)

// The re-seal job brings every record of a tenant to the current layout:
// every sealed value under the primary data key (after a rotation), and
// the values of fields that became sensitive sealed (after a
// reclassification). It walks the records in (collection_id, id) order in
// batches, one transaction each, and keeps its position in key_jobs, so a
// crash loses at most the batch in flight and the job resumes where it
// stopped. A row is rewritten in one statement, so it is always entirely
// under one key. When the walk ends, data keys that no row uses any more
// are disabled (never deleted: a restored backup may need one re-enabled).
//
// Writes keep going meanwhile: each write re-seals its whole row under the
// primary key, and reads open whichever key a row is under.

const (
	jobReseal   = "reseal"
	resealBatch = 200
	// leaseTTL: a job's lease lets one process work on it at a time; a
	// process that dies loses it after this long. Every batch renews it.
	leaseTTL = 30 * time.Second
)

// sealedColumns lists the columns outside records that hold values sealed
// with the tenant's data key (sealSecret): retiring a key checks them, so a
// key is disabled only when nothing at all uses it. Each is a (table,
// column) pair; the column holds raw ciphertext (BLOB/BYTEA).
var sealedColumns = [][2]string{{"mfa_totp", "secret"}, {"sso_providers", "client_secret"}, {"sso_providers", "sp_key"}, {"sso_providers", "sp_next_key"}}

// startReseal starts the tenant's re-seal job, or restarts it from the
// beginning if one is running (a second rotation, another reclassified
// field): rows already done are skipped quickly.
func (t *tenantTx) startReseal() error {
	var total int64
	if err := t.queryRow("SELECT count(*) FROM records WHERE tenant_id = ?", t.tenantID).Scan(&total); err != nil {
		return err
	}
	_, err := t.exec(`INSERT INTO key_jobs (tenant_id, kind, after_key, done, total, started_at, updated_at)
		VALUES (?, ?, '', 0, ?, ?, ?)
		ON CONFLICT (tenant_id, kind) DO UPDATE SET after_key = '', done = 0, total = excluded.total,
			started_at = excluded.started_at, updated_at = excluded.updated_at, finished_at = NULL`,
		t.tenantID, jobReseal, total, micros(t.now), micros(t.now))
	return err
}

type jobRow struct {
	afterKey    string
	done, total int64
	started     int64
	finished    sql.NullInt64
	holder      string
	leaseUntil  int64
}

func (t *tenantTx) job() (*jobRow, error) {
	var j jobRow
	err := t.queryRow(`SELECT after_key, done, total, started_at, finished_at, lease_holder, lease_until
		FROM key_jobs WHERE tenant_id = ? AND kind = ?`, t.tenantID, jobReseal).
		Scan(&j.afterKey, &j.done, &j.total, &j.started, &j.finished, &j.holder, &j.leaseUntil)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return &j, err
}

func (j *jobRow) progress() bulwark.ResealProgress {
	p := bulwark.ResealProgress{Done: j.done, Total: j.total, StartedAt: fromMicros(j.started)}
	if j.finished.Valid {
		f := fromMicros(j.finished.Int64)
		p.FinishedAt = &f
	}
	return p
}

// errLeased: another process holds the job.
var errLeased = bulwark.Errorf(bulwark.EConflict, "another Bulwark process is re-sealing this tenant (a running server finishes it by itself); if that process died, its lease expires within 30 seconds: then resume")

// resealStep runs one batch of the job. It reports finished when the job
// is done (or there is none).
func (t *tenantTx) resealStep(holder string) (bulwark.ResealProgress, bool, error) {
	j, err := t.job()
	if err != nil || j == nil {
		return bulwark.ResealProgress{}, true, err
	}
	if j.finished.Valid {
		return j.progress(), true, nil
	}
	if j.holder != holder && j.leaseUntil > micros(t.now) {
		return j.progress(), false, errLeased
	}
	k, err := t.tenantKeys(lockShare)
	if err != nil {
		return j.progress(), false, err
	}
	cols, err := t.collectionsByID()
	if err != nil {
		return j.progress(), false, err
	}
	coll, id, _ := strings.Cut(j.afterKey, "/")
	rows, err := t.query("SELECT collection_id, "+recordColumns+` FROM records
		WHERE tenant_id = ? AND (collection_id > ? OR (collection_id = ? AND id > ?))
		ORDER BY collection_id, id LIMIT ?`, t.tenantID, coll, coll, id, resealBatch)
	if err != nil {
		return j.progress(), false, err
	}
	type item struct {
		c *bulwark.Collection
		r *storedRecord
	}
	var batch []item
	for rows.Next() {
		var cid string
		r, err := scanRecord(scanPrefix{rows, &cid}, "")
		if err != nil {
			rows.Close()
			return j.progress(), false, err
		}
		batch = append(batch, item{cols[cid], r})
		j.afterKey = cid + "/" + r.ID
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return j.progress(), false, err
	}
	for _, it := range batch {
		if it.c == nil {
			continue // its collection is being deleted
		}
		if err := t.relayout(k, it.c, it.r); err != nil {
			return j.progress(), false, fmt.Errorf("re-seal record %s/%s: %w", it.c.Name, it.r.ID, err)
		}
	}
	j.done += int64(len(batch))
	if j.done > j.total {
		j.total = j.done
	}
	lease := micros(t.now.Add(leaseTTL))
	if len(batch) == resealBatch {
		_, err = t.exec("UPDATE key_jobs SET after_key = ?, done = ?, total = ?, updated_at = ?, lease_holder = ?, lease_until = ? WHERE tenant_id = ? AND kind = ?",
			j.afterKey, j.done, j.total, micros(t.now), holder, lease, t.tenantID, jobReseal)
		return j.progress(), false, err
	}
	// The walk is over: retire the keys nothing uses any more.
	if err := t.retireUnusedKeys(); err != nil {
		return j.progress(), false, err
	}
	j.finished = sql.NullInt64{Int64: micros(t.now), Valid: true}
	if _, err := t.exec("UPDATE key_jobs SET after_key = ?, done = ?, total = ?, updated_at = ?, finished_at = ?, lease_holder = '', lease_until = 0 WHERE tenant_id = ? AND kind = ?",
		j.afterKey, j.done, j.total, micros(t.now), micros(t.now), t.tenantID, jobReseal); err != nil {
		return j.progress(), false, err
	}
	return j.progress(), true, t.audit(auditEntry{Action: "keys.reseal", TargetKind: "tenant_keys", TargetID: t.tenantID, Privileged: true})
}

// scanPrefix scans one leading column before a record's columns.
type scanPrefix struct {
	s     interface{ Scan(...any) error }
	first any
}

func (p scanPrefix) Scan(dest ...any) error { return p.s.Scan(append([]any{p.first}, dest...)...) }

func (t *tenantTx) collectionsByID() (map[string]*bulwark.Collection, error) {
	rows, err := t.query("SELECT "+collectionColumns+" FROM collections WHERE tenant_id = ?", t.tenantID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]*bulwark.Collection{}
	for rows.Next() {
		c, err := scanCollection(rows)
		if err != nil {
			return nil, err
		}
		out[c.ID] = c
	}
	return out, rows.Err()
}

// relayout rewrites one record if it is not in the current layout: sealed
// under another key than the primary, or holding in clear a value of a
// field that is now sensitive (or sealed one that no longer is). Its
// version does not change: the record's content is the same.
func (t *tenantTx) relayout(k *keys.TenantKeys, c *bulwark.Collection, r *storedRecord) error {
	stale := len(r.sealed) > 0 && r.keyID != int64(k.Primary())
	for name := range r.Data {
		stale = stale || sensitive(c, name)
	}
	for name := range r.sealed {
		stale = stale || !sensitive(c, name)
	}
	if !stale {
		return nil
	}
	r.Collection = c.Name
	if err := openSealed(k, c, r.Record, r.sealed); err != nil {
		return err
	}
	row, err := layout(k, c, r.ID, r.Data)
	if err != nil {
		return err
	}
	// A concurrent update that got there first wrote the row in the
	// current layout already: nothing left to do.
	_, err = t.exec("UPDATE records SET data = ?, sealed = ?, key_id = ?, tags = ? WHERE tenant_id = ? AND collection_id = ? AND id = ? AND version = ?",
		row.data, row.sealed, row.keyID, row.tags, t.tenantID, c.ID, r.ID, r.Version)
	return err
}

// retireUnusedKeys disables the data keys that neither a record nor a
// sealed column uses, and marks the keyset active again. The keyset is
// read FOR UPDATE: on PostgreSQL a write that is sealing (it holds the
// keyset FOR SHARE) finishes first, so the scan below sees its row.
func (t *tenantTx) retireUnusedKeys() error {
	krows, err := t.keyRows(lockUpdate)
	if err != nil {
		return err
	}
	inUse := map[uint32]bool{}
	rows, err := t.query("SELECT DISTINCT key_id FROM records WHERE tenant_id = ?", t.tenantID)
	if err != nil {
		return err
	}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		inUse[uint32(id)] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, tc := range sealedColumns {
		if err := t.sealedKeyIDs(tc[0], tc[1], inUse); err != nil {
			return err
		}
	}
	data := krows[keys.PurposeData]
	if err := t.auditKeyIDs(data.w, inUse); err != nil {
		return err
	}
	w, _, err := t.db.opt.Keys.Retire(t.ctx, data.w, func(id uint32) bool { return inUse[id] })
	if err != nil {
		return err
	}
	if data.status == keysActive && w.Version == data.w.Version {
		return nil
	}
	data.status = keysActive
	return t.saveKeyRow(data, w)
}

// sealedKeyIDs adds the key ids of a sealed column's values to ids.
func (t *tenantTx) sealedKeyIDs(table, column string, ids map[uint32]bool) error {
	rows, err := t.query("SELECT "+column+" FROM "+table+" WHERE tenant_id = ?", t.tenantID)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var ct []byte
		if err := rows.Scan(&ct); err != nil {
			return err
		}
		if id, ok := keys.KeyIDOf(ct); ok {
			ids[id] = true
		}
	}
	return rows.Err()
}

// reclassify applies a change of classifications to stored values, in the
// transaction that changes the collection from c to next.
//
//   - A field that became sensitive: its unique index entries become blind
//     index tags at once (the tag is computed from the stored canonical
//     value, without reading records), and the re-seal job is started to
//     seal its values in the background.
//   - A field that is no longer sensitive: its values are opened and
//     stored in clear now, in this transaction, and the unique keys of
//     every record are rebuilt from its value, so that filters and
//     unique checks on it never see a mix (whether or not the job had
//     sealed a value yet). Lowering protection is rare and deliberate;
//     it is not deferred.
func (t *tenantTx) reclassify(c, next *bulwark.Collection) error {
	var up, down []bulwark.Field
	for _, f := range next.Fields {
		old, ok := c.Field(f.Name)
		if !ok {
			continue
		}
		switch {
		case f.Classification.Sensitive() && !old.Classification.Sensitive():
			up = append(up, f)
		case !f.Classification.Sensitive() && old.Classification.Sensitive():
			down = append(down, f)
		}
	}
	if len(up) == 0 && len(down) == 0 {
		return nil
	}
	k, err := t.tenantKeys(lockShare)
	if err != nil {
		return err
	}
	for _, f := range up {
		if !f.Unique {
			continue
		}
		if err := t.tagUniques(k, next, f); err != nil {
			return err
		}
	}
	if len(up) > 0 {
		if err := t.startReseal(); err != nil {
			return err
		}
	}
	if len(down) > 0 {
		return t.unseal(k, c, next, down)
	}
	return nil
}

// tagUniques replaces the clear unique keys of field f by blind index tags.
func (t *tenantTx) tagUniques(k *keys.TenantKeys, c *bulwark.Collection, f bulwark.Field) error {
	rows, err := t.query("SELECT value_key, record_id FROM record_uniques WHERE tenant_id = ? AND collection_id = ? AND field = ?", t.tenantID, c.ID, f.Name)
	if err != nil {
		return err
	}
	type entry struct{ key, record string }
	var es []entry
	for rows.Next() {
		var e entry
		if err := rows.Scan(&e.key, &e.record); err != nil {
			rows.Close()
			return err
		}
		es = append(es, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, e := range es {
		if strings.HasPrefix(e.key, "t:") {
			continue
		}
		tag, err := blindTag(k, c, f.Name, e.key)
		if err != nil {
			return err
		}
		if _, err := t.exec("UPDATE record_uniques SET value_key = ? WHERE tenant_id = ? AND collection_id = ? AND field = ? AND record_id = ?",
			"t:"+tag, t.tenantID, c.ID, f.Name, e.record); err != nil {
			return err
		}
	}
	return nil
}

// unseal stores the values of fields that are no longer sensitive in
// clear, with clear unique keys, and drops their blind index tags.
//
// The unique keys of every record are rebuilt from its value, not only
// those of records whose values were sealed: raising a unique field turns
// every record's key into a blind index tag at once while the job seals
// the values later, so a record the job has not reached holds its value
// in clear and a tag as its key. Left so, the tag would never match a
// clear key again and the field would take that value a second time.
func (t *tenantTx) unseal(k *keys.TenantKeys, c, next *bulwark.Collection, fields []bulwark.Field) error {
	rows, err := t.query("SELECT "+recordColumns+" FROM records WHERE tenant_id = ? AND collection_id = ?", t.tenantID, c.ID)
	if err != nil {
		return err
	}
	var recs []*storedRecord
	for rows.Next() {
		r, err := scanRecord(rows, c.Name)
		if err != nil {
			rows.Close()
			return err
		}
		recs = append(recs, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	var unique []bulwark.Field
	held := map[string]map[string]string{} // field -> record id -> value_key
	for _, f := range fields {
		if !f.Unique {
			continue
		}
		unique = append(unique, f)
		if held[f.Name], err = t.uniqueKeys(c, f.Name); err != nil {
			return err
		}
	}
	for _, r := range recs {
		has := false
		for _, f := range fields {
			_, ok := r.sealed[f.Name]
			has = has || ok
		}
		if has {
			// Open with the old collection (same id), lay out with the new.
			if err := openSealed(k, c, r.Record, r.sealed); err != nil {
				return err
			}
			row, err := layout(k, next, r.ID, r.Data)
			if err != nil {
				return err
			}
			if _, err := t.exec("UPDATE records SET data = ?, sealed = ?, key_id = ?, tags = ? WHERE tenant_id = ? AND collection_id = ? AND id = ?",
				row.data, row.sealed, row.keyID, row.tags, t.tenantID, c.ID, r.ID); err != nil {
				return err
			}
		}
		for _, f := range unique {
			want := ""
			if v := r.Data[f.Name]; v != nil {
				want = bulwark.UniqueKey(v)
			}
			if held[f.Name][r.ID] == want {
				continue
			}
			// Two records holding the same value (only a store damaged
			// before this rebuild existed can have them) fail the change
			// with a conflict naming the field.
			if err := t.putUniques(next, r.ID, []uniqueValue{{f.Name, want}}, true); err != nil {
				return err
			}
		}
	}
	return nil
}

// uniqueKeys returns the unique keys of a field: record id -> value_key.
func (t *tenantTx) uniqueKeys(c *bulwark.Collection, field string) (map[string]string, error) {
	rows, err := t.query("SELECT record_id, value_key FROM record_uniques WHERE tenant_id = ? AND collection_id = ? AND field = ?", t.tenantID, c.ID, field)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id, key string
		if err := rows.Scan(&id, &key); err != nil {
			return nil, err
		}
		out[id] = key
	}
	return out, rows.Err()
}

// Reseal runs the re-seal job of the tenant slug to its end, a batch per
// transaction, and calls progress after each batch. Cancelling ctx stops
// it between batches; running it again resumes. Operators and the command
// line only.
func (db *DB) Reseal(ctx context.Context, slug string, progress func(bulwark.ResealProgress)) error {
	if err := requireOperator(ctx); err != nil {
		return err
	}
	ten, err := db.tenantRefBySlug(ctx, slug)
	if err != nil {
		return err
	}
	return db.reseal(ctx, ten.ID, newHolder(), progress)
}

func (db *DB) reseal(ctx context.Context, tenantID, holder string, progress func(bulwark.ResealProgress)) error {
	p := bulwark.FromContext(ctx)
	for {
		if err := ctx.Err(); err != nil {
			return &bulwark.Error{Code: bulwark.EUnavailable, Message: "the re-seal stopped before its end; run it again to resume", Err: err}
		}
		var prog bulwark.ResealProgress
		var finished bool
		err := db.inTenantID(ctx, tenantID, p, true, func(t *tenantTx) error {
			var err error
			prog, finished, err = t.resealStep(holder)
			return err
		})
		if err != nil {
			return err
		}
		if progress != nil {
			progress(prog)
		}
		if finished {
			return nil
		}
	}
}

func newHolder() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// RunKeyJobs runs pending re-seal jobs (after a rotation through the API,
// a reclassification, or a crash) until ctx ends, looking for them every
// interval. Any number of processes may run it: a lease gives each job to
// one of them at a time. Failures are logged and retried at the next
// round.
func (db *DB) RunKeyJobs(ctx context.Context, interval time.Duration) {
	holder := newHolder()
	sys := bulwark.NewContext(ctx, &bulwark.Principal{Kind: bulwark.KindSystem, ID: "key-jobs"})
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		ids, err := db.pendingJobs(sys)
		if err != nil {
			db.opt.Logger.Warn("key jobs: list pending", "err", err)
		}
		for _, id := range ids {
			err := db.reseal(sys, id, holder, nil)
			switch {
			case err == nil:
				db.opt.Logger.Info("key jobs: re-seal finished", "tenant", id)
			case errors.Is(err, errLeased), ctx.Err() != nil:
			default:
				db.opt.Logger.Warn("key jobs: re-seal failed; will retry", "tenant", id, "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// pendingJobs lists tenants with an unfinished re-seal job.
func (db *DB) pendingJobs(ctx context.Context) ([]string, error) {
	ts, err := db.tenantRefs(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, ten := range ts {
		var n int
		err := db.inTenantID(ctx, ten.ID, bulwark.FromContext(ctx), false, func(t *tenantTx) error {
			return t.queryRow("SELECT count(*) FROM key_jobs WHERE tenant_id = ? AND finished_at IS NULL", t.tenantID).Scan(&n)
		})
		if err != nil {
			return nil, err
		}
		if n > 0 {
			out = append(out, ten.ID)
		}
	}
	return out, nil
}

// keyTimes are the creation times of a keyset's keys, for the inventory.
func keyTimes(r *keyRow) map[uint32]int64 {
	out := map[uint32]int64{}
	for id, at := range r.times {
		var n uint32
		if _, err := fmt.Sscan(id, &n); err == nil {
			out[n] = at
		}
	}
	return out
}
