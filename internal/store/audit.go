package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/audit"
)

// AuditOptions configures what the store writes into audit entries.
type AuditOptions struct {
	// Sealer seals the client address and user agent of deployment-level
	// entries, and of a tenant's entries when no key ring is configured or
	// the tenant's keys cannot be had (see audit_seal.go); a tenant's
	// entries are otherwise sealed under the tenant's data key. Nil leaves
	// them out: they are personal data and are never stored clear.
	Sealer audit.Sealer
	// Gate is asked before every audited write; an error refuses the write
	// (strict mode: the replica is too far behind). Nil allows everything.
	Gate func() error
}

var _ bulwark.AuditService = (*DB)(nil)

// auditEntry is one audit log entry, written in the transaction of the
// change it records (DATA-5). Fields holds field names, never values.
type auditEntry struct {
	Action     string
	TargetKind string
	TargetID   string
	Fields     []string
	Privileged bool
	// Outcome is bulwark.OutcomeSuccess unless set.
	Outcome string
}

func actorOf(p *bulwark.Principal) (kind, id string) {
	if p == nil {
		return "anonymous", ""
	}
	return string(p.Kind), p.ID
}

// appendAudit writes e in t. If it cannot be written the caller's
// transaction fails with it: no change without its entry (DATA-5).
func (t *tx) appendAudit(tenantID *string, p *bulwark.Principal, e auditEntry) error {
	if skipAudit() {
		return nil
	}
	ao := t.db.opt.Audit
	if ao.Gate != nil {
		if err := ao.Gate(); err != nil {
			return err
		}
	}
	kind, id := actorOf(p)
	fields := e.Fields
	if fields == nil {
		fields = []string{}
	}
	outcome := e.Outcome
	if outcome == "" {
		outcome = bulwark.OutcomeSuccess
	}
	ri := bulwark.RequestInfoFrom(t.ctx)
	client, agent, err := t.sealClient(tenantID, ri)
	if err != nil {
		return err
	}
	// The entry as scanEntry reads the row back (TestAuditMemoMatchesRows):
	// the row's values are made from it (auditValues).
	ae := &audit.Entry{Seq: -1, Time: fromMicros(micros(t.now)), ActorKind: kind, ActorID: id, ActorHow: audit.ActorHow(p),
		Action: e.Action, TargetKind: e.TargetKind, TargetID: e.TargetID, Fields: append([]string{}, fields...), Outcome: outcome,
		RequestID: ri.ID, Privileged: e.Privileged, Client: client, UserAgent: agent}
	if tenantID != nil {
		ae.Tenant = *tenantID
	}
	if t.queue != nil {
		// SQLite's writer: inserted with the batch (audit_queue.go).
		t.queue.req = append(t.queue.req, ae)
		return nil
	}
	if t.db.numbersAtInsert() {
		// Every SQLite write runs in the writer's batch, which numbers the
		// entries it inserts; an entry written elsewhere would never be
		// numbered.
		return fmt.Errorf("append audit entry: not in the writer's transaction")
	}
	if _, err := t.exec(auditInsert+") VALUES "+auditRowParams, t.db.auditValues(ae)...); err != nil {
		return fmt.Errorf("append audit entry: %w", err)
	}
	return nil
}

// auditValues are e's values for auditInsert's columns, in their order.
func (db *DB) auditValues(e *audit.Entry) []any {
	var tenant any // NULL for a deployment-level entry
	if e.Tenant != "" {
		tenant = e.Tenant
	}
	fields := []byte("null") // json.Marshal(e.Fields), written directly (rowjson.go)
	if e.Fields != nil {
		fields = append(make([]byte, 0, 2+16*len(e.Fields)), '[')
		for i, f := range e.Fields {
			if i > 0 {
				fields = append(fields, ',')
			}
			fields = appendJSONString(fields, f)
		}
		fields = append(fields, ']')
	}
	privileged := any(e.Privileged)
	if db.dialect.name() == "sqlite" {
		privileged = boolInt(e.Privileged)
	}
	return []any{tenant, micros(e.Time), e.ActorKind, e.ActorID, e.ActorHow, e.Action, e.TargetKind, e.TargetID,
		string(fields), e.Outcome, e.RequestID, privileged, e.Client, e.UserAgent}
}

func (t *tenantTx) audit(e auditEntry) error {
	return t.appendAudit(&t.tenantID, t.principal, e)
}

func (t *globalTx) audit(e auditEntry) error {
	return t.appendAudit(nil, t.principal, e)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// scanEntry reads a row of db.auditColumns(). rowSeq is the row's own number
// (the search cursor); the entry's Seq is its tree index, -1 if pending.
func scanEntry(s interface{ Scan(...any) error }) (e *audit.Entry, rowSeq int64, err error) {
	e = &audit.Entry{}
	var idx sql.NullInt64
	var tenant sql.NullString
	var at int64
	var fields string
	var privileged any
	if err := s.Scan(&rowSeq, &idx, &tenant, &at, &e.ActorKind, &e.ActorID, &e.ActorHow, &e.Action, &e.TargetKind, &e.TargetID,
		&fields, &e.Outcome, &e.RequestID, &privileged, &e.Client, &e.UserAgent); err != nil {
		return nil, 0, err
	}
	e.Seq = -1
	if idx.Valid {
		e.Seq = idx.Int64
	}
	e.Tenant = tenant.String
	e.Time = fromMicros(at)
	// A stored value that is not a JSON array of names still becomes part
	// of the leaf, verbatim: what is hashed must be what is stored.
	if err := json.Unmarshal([]byte(fields), &e.Fields); err != nil {
		e.Fields = []string{fields}
	}
	switch v := privileged.(type) {
	case bool:
		e.Privileged = v
	case int64:
		e.Privileged = v != 0
	}
	return e, rowSeq, nil
}

// entries runs q, a SELECT of db.auditColumns(), and reads every row:
// the entries and each row's own number.
func (t *tx) entries(q string, args ...any) (es []*audit.Entry, seqs []int64, err error) {
	rows, err := t.query(q, args...)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	for rows.Next() {
		e, rowSeq, err := scanEntry(rows)
		if err != nil {
			return nil, nil, err
		}
		es, seqs = append(es, e), append(seqs, rowSeq)
	}
	return es, seqs, rows.Err()
}

// SearchAudit implements bulwark.AuditService: the caller's tenant's
// entries, newest first, with a cursor (DATA-7).
func (db *DB) SearchAudit(ctx context.Context, f bulwark.AuditFilter) ([]*bulwark.AuditEntry, string, error) {
	limit := pageSize(f.Limit)
	var out []*bulwark.AuditEntry
	var next string
	err := db.inTenant(ctx, false, func(t *tenantTx) error {
		if err := t.requireCan(bulwark.PermAuditRead); err != nil {
			return err
		}
		q, qargs, err := db.tenantAudit(t.tenantID, f, limit)
		if err != nil {
			return err
		}
		var sealed []string
		out, sealed, next, err = t.auditPage(q, qargs, limit)
		if err != nil {
			return err
		}
		o := &clientOpener{t: t}
		for i, pe := range out {
			o.open(pe, sealed[i])
		}
		return nil
	})
	return out, next, err
}

// tenantAudit is the query, for auditPage, of a tenant's entries that
// match f, cut to the page.
//
// On SQLite the integrated entries come through audit_tenant, which the
// sequencer writes (sqliteTenantEntries); a cursor also bounds the blocks
// read, to those at or before the cursor's entry, so that a page deep in a
// tenant's log does not read every newer block first. The few pending
// entries come from the tail of the log, newest first by its key, idx
// (ordered by seq, which is derived from idx and has no index, SQLite
// would sort the whole log to find them). Both are measured
// by BenchmarkAuditTenantSearch. PostgreSQL has an index on
// (tenant_id, seq).
func (db *DB) tenantAudit(tenantID string, f bulwark.AuditFilter, limit int) (string, []any, error) {
	where, args, err := db.auditWhere(f)
	if err != nil {
		return "", nil, err
	}
	cols := db.auditColumns()
	if !db.numbersAtInsert() {
		return "SELECT * FROM (SELECT " + cols + " FROM audit_log WHERE tenant_id = ?" + where + " ORDER BY seq DESC LIMIT ?) AS entries",
			append(append([]any{tenantID}, args...), limit+1), nil
	}
	integrated, bargs := cursorBlocks(f)
	qargs := append(append(append([]any{tenantID}, bargs...), args...), limit+1)
	qargs = append(append(append(qargs, tenantID), args...), limit+1)
	return "SELECT * FROM (SELECT " + cols + " FROM " + sqliteTenantEntries + " WHERE tenant = ?" + integrated + where +
			" ORDER BY block DESC, idx DESC LIMIT ?) AS integrated UNION ALL " +
			"SELECT * FROM (SELECT " + cols + " FROM audit_log WHERE tenant_id = ? AND " + db.auditPending() + where +
			" ORDER BY idx DESC LIMIT ?) AS pending",
		qargs, nil
}

// cursorBlocks is, on SQLite, the condition that bounds the blocks of
// audit_tenant or audit_time a search reads to those at or before the
// cursor's entry, and its argument.
func cursorBlocks(f bulwark.AuditFilter) (string, []any) {
	if f.Cursor == "" {
		return "", nil
	}
	cursor, _ := strconv.ParseInt(f.Cursor, 10, 64) // auditWhere checked it
	return " AND block <= ?", []any{sqliteIdx(cursor) / auditBlock}
}

// auditPage runs q (a SELECT of auditColumns with its conditions) for one
// page, newest first: the entries as shown, each one's stored client
// fields, and the cursor of the next page ("" when there is none).
func (t *tx) auditPage(q string, args []any, limit int) (out []*bulwark.AuditEntry, sealed []string, next string, err error) {
	rows, err := t.query(q+" ORDER BY seq DESC LIMIT ?", append(args, limit+1)...)
	if err != nil {
		return nil, nil, "", err
	}
	defer rows.Close()
	var seqs []int64
	for rows.Next() {
		e, rowSeq, err := scanEntry(rows)
		if err != nil {
			return nil, nil, "", err
		}
		pe := e.Public()
		if e.Seq < 0 {
			pe.Seq = nil
		}
		out = append(out, pe)
		seqs = append(seqs, rowSeq)
		sealed = append(sealed, e.Client)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, "", err
	}
	if len(out) > limit {
		out, sealed, next = out[:limit], sealed[:limit], strconv.FormatInt(seqs[limit-1], 10)
	}
	return out, sealed, next, nil
}

// auditWhere turns a filter (all but its tenant) into SQL conditions, each
// starting with " AND ", and their arguments. On SQLite the cursor is a
// condition on the table's key (sqliteIdx), written +idx so that it only
// filters: the tenant's blocks bound the range read (sqliteTenantEntries),
// and the operators' search adds its own range (allAudit).
func (db *DB) auditWhere(f bulwark.AuditFilter) (string, []any, error) {
	var q string
	var args []any
	if f.Cursor != "" {
		c, err := strconv.ParseInt(f.Cursor, 10, 64)
		if err != nil || c <= 0 {
			return "", nil, bulwark.FieldError("cursor", "is not a cursor this API returned")
		}
		if db.numbersAtInsert() {
			q += " AND +idx < ?"
			args = append(args, sqliteIdx(c))
		} else {
			q += " AND seq < ?"
			args = append(args, c)
		}
	}
	if f.Actor != "" {
		q += " AND actor_id = ?"
		args = append(args, f.Actor)
	}
	if prefix, ok := strings.CutSuffix(f.Action, "."); ok && prefix != "" {
		q += " AND action >= ? AND action < ?"
		args = append(args, prefix+".", prefix+"/") // '/' sorts right after '.'
	} else if f.Action != "" {
		q += " AND action = ?"
		args = append(args, f.Action)
	}
	if f.Target != "" {
		q += " AND target_id = ?"
		args = append(args, f.Target)
	}
	if f.Outcome != "" {
		q += " AND outcome = ?"
		args = append(args, f.Outcome)
	}
	if f.RequestID != "" {
		q += " AND request_id = ?"
		args = append(args, f.RequestID)
	}
	window, wargs := timeWindow("at", "at", f)
	return q + window, append(args, wargs...), nil
}

// timeWindow is f's time range as conditions, each starting with
// " AND ", and their arguments: from is a time column that must be at or
// after its start, to one that must be before its end. An entry's own
// time is both; a block of entries overlaps the range if its latest time
// is at or after the start and its earliest before the end.
func timeWindow(from, to string, f bulwark.AuditFilter) (string, []any) {
	var q string
	var args []any
	if !f.Since.IsZero() {
		q += " AND " + from + " >= ?"
		args = append(args, micros(f.Since))
	}
	if !f.Until.IsZero() {
		q += " AND " + to + " < ?"
		args = append(args, micros(f.Until))
	}
	return q, args
}

// RecordDenial implements bulwark.AuditService: an authorization refusal
// becomes an entry of the principal's tenant (or a deployment-level one
// for operators and anonymous callers), in its own transaction.
func (db *DB) RecordDenial(ctx context.Context, d bulwark.Denial) error {
	e := auditEntry{Action: "authz.deny", TargetKind: d.TargetKind, TargetID: d.TargetID, Outcome: bulwark.OutcomeDenied}
	if e.TargetKind == "" {
		e.TargetKind, e.TargetID = "route", d.Action
	}
	if d.Permission != "" {
		// For a denial, "fields" names the permission that was missing.
		e.Fields = []string{string(d.Permission)}
	}
	p := bulwark.FromContext(ctx)
	tenantID, _ := p.Tenant()
	e.Privileged = tenantID == "" && p != nil && p.Kind == bulwark.KindOperator
	return db.recordAlone(ctx, tenantID, p, e)
}

// recordAlone writes an entry that records no change of its own (a
// denial, a failed login, a search) in a transaction of its own: in
// tenantID's log, or at deployment level when it is "". Such a write
// changes nothing a cached principal is made of (cache.go).
func (db *DB) recordAlone(ctx context.Context, tenantID string, p *bulwark.Principal, e auditEntry) error {
	if tenantID != "" {
		return db.inTenantID(ctx, tenantID, p, true, func(t *tenantTx) error {
			t.keepAuth = true
			return t.audit(e)
		})
	}
	return db.inGlobal(ctx, true, func(t *globalTx) error {
		t.principal, t.keepAuth = p, true
		return t.audit(e)
	})
}

// auditLoginFailure records a failed login (ASVS V16.3.1) in its own
// transaction: in the tenant when the slug named one, else at deployment
// level. The attempted email is personal data and is never recorded; the
// target is the account when it exists.
func (db *DB) auditLoginFailure(ctx context.Context, tenantID, targetKind, targetID string) error {
	e := auditEntry{Action: "auth.login", TargetKind: targetKind, TargetID: targetID, Outcome: bulwark.OutcomeFailure,
		Privileged: targetKind == "operator"}
	return db.recordAlone(ctx, tenantID, nil, e)
}

// AuditFactorFailure records a failed second-factor verification by the
// session's account (ASVS V16.3.1, as auditLoginFailure does for a
// password) in its own transaction: action is the one the verification
// would have recorded (auth.mfa, auth.reauth, mfa.totp_enrol), with
// outcome failure and the account as target.
func (db *DB) AuditFactorFailure(ctx context.Context, action string) error {
	p, err := subject(ctx)
	if err != nil {
		return err
	}
	kind := "user"
	if p.Kind == bulwark.KindOperator {
		kind = "operator"
	}
	tenantID, _ := p.Tenant()
	e := auditEntry{Action: action, TargetKind: kind, TargetID: p.ID, Outcome: bulwark.OutcomeFailure, Privileged: kind == "operator"}
	return db.recordAlone(ctx, tenantID, p, e)
}

// ExportAudit implements bulwark.AuditService: the caller's tenant's
// entries up to the latest signed checkpoint, each with its inclusion
// proof, as JSON Lines (audit.ExportWriter). The export is itself audited.
func (db *DB) ExportAudit(ctx context.Context, w io.Writer) error {
	tenantID, err := bulwark.TenantFromContext(ctx)
	if err != nil {
		return err
	}
	if !bulwark.FromContext(ctx).Can(bulwark.PermAuditRead, "") {
		return bulwark.Errorf(bulwark.EForbidden, "you may not read the audit log")
	}
	var cp *audit.Checkpoint
	err = db.inTenant(ctx, true, func(t *tenantTx) error {
		var err error
		if cp, err = t.latestCheckpoint(); err != nil {
			return err
		}
		if cp == nil {
			return bulwark.Errorf(bulwark.EUnavailable, "the audit log has no signed checkpoint yet; try again in a few seconds")
		}
		return t.audit(auditEntry{Action: "audit.export", TargetKind: "audit_log", TargetID: tenantID})
	})
	if err != nil {
		return err
	}
	ew := audit.NewExportWriter(w, tenantID, cp)
	const chunk = 500
	for from := int64(-1); ; {
		type item struct {
			leaf  []byte
			idx   int64
			proof tlog.RecordProof
		}
		var items []item
		err := db.inTenant(ctx, false, func(t *tenantTx) error {
			q := "SELECT " + db.auditColumns() + " FROM audit_log WHERE tenant_id = ? AND idx > ? AND idx < ? ORDER BY idx LIMIT ?"
			args := []any{t.tenantID, from, cp.Size, chunk}
			if db.numbersAtInsert() {
				q = "SELECT " + db.auditColumns() + " FROM " + sqliteTenantEntries + " WHERE tenant = ? AND block >= ? AND +idx > ? AND +idx < ? ORDER BY block, idx LIMIT ?"
				args = []any{t.tenantID, (from + 1) / auditBlock, from, cp.Size, chunk}
			}
			es, _, err := t.entries(q, args...)
			if err != nil {
				return err
			}
			for _, e := range es {
				items = append(items, item{leaf: e.Leaf(), idx: e.Seq})
			}
			r := &hashReader{t: &t.tx, cache: map[int64]tlog.Hash{}}
			for i := range items {
				if items[i].proof, err = tlog.ProveRecord(cp.Size, items[i].idx, r); err != nil {
					return fmt.Errorf("prove audit entry %d: %w", items[i].idx, err)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, it := range items {
			if err := ew.Add(it.idx, it.leaf, it.proof); err != nil {
				return err
			}
		}
		if len(items) < chunk {
			break
		}
		from = items[len(items)-1].idx
	}
	return ew.Close()
}

func (t *tx) latestCheckpoint() (*audit.Checkpoint, error) {
	var cp audit.Checkpoint
	var root []byte
	var note string
	err := t.queryRow("SELECT size, root, note FROM audit_checkpoints ORDER BY size DESC LIMIT 1").Scan(&cp.Size, &root, &note)
	if err == sql.ErrNoRows {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	copy(cp.Root[:], root)
	cp.Note = []byte(note)
	return &cp, nil
}

// SetAuditOptions replaces the audit options. Call it before serving: the
// sequencer that provides the strict-mode gate needs the open store.
func (db *DB) SetAuditOptions(a AuditOptions) { db.opt.Audit = a }
