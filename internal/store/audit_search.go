package store

import (
	"context"
	"strconv"

	"github.com/google/uuid"

	"github.com/bulwarkhq/bulwark"
)

// SearchAllAudit implements bulwark.AuditService: the cross-tenant search
// of operators with the security role (DATA-7, PRIV-1). The search is
// recorded first, in its own transaction, as a privileged deployment-level
// entry naming the operator and the filters used (by name, never their
// values, which may identify a person); if that entry cannot be written,
// nothing is returned. Like the sequencer's, its read sets
// app.audit_scope = 'all' on PostgreSQL, which the audit_sequencer policy
// admits. Entries come back as stored: sealed client fields are never
// opened for operators, who see no personal data.
func (db *DB) SearchAllAudit(ctx context.Context, f bulwark.AuditFilter) ([]*bulwark.AuditEntry, string, error) {
	p := bulwark.FromContext(ctx)
	if p == nil {
		return nil, "", bulwark.Errorf(bulwark.EUnauthenticated, "an operator login is required")
	}
	if !p.HasOperatorRole(bulwark.OperatorSecurity) {
		return nil, "", bulwark.Errorf(bulwark.EForbidden, "this needs the operator role security")
	}
	limit := pageSize(f.Limit)
	var q string
	var args []any
	var err error
	if f.Tenant != "" {
		// Only a tenant id: the value is recorded as the search's target,
		// so it must not be free text (an email typed by mistake).
		id, err := uuid.Parse(f.Tenant)
		if err != nil || id.String() != f.Tenant {
			return nil, "", bulwark.FieldError("tenant", "is not a tenant id")
		}
		// The tenant's own search path (its index; on SQLite its blocks
		// and the pending tail) rather than every entry of the log.
		q, args, err = db.tenantAudit(f.Tenant, f, limit)
		if err != nil {
			return nil, "", err
		}
	} else if q, args, err = db.allAudit(f, limit); err != nil {
		return nil, "", err
	}
	target := f.Tenant
	if target == "" {
		target = "*"
	}
	err = db.recordAlone(ctx, "", p, auditEntry{Action: "audit.search", TargetKind: "audit_log", TargetID: target, Fields: filterNames(f), Privileged: true})
	if err != nil {
		return nil, "", err
	}
	var out []*bulwark.AuditEntry
	var next string
	err = db.inAudit(ctx, false, func(t *tx) error {
		var err error
		out, _, next, err = t.auditPage(q, args, limit)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return out, next, nil
}

// allAudit is the query, for auditPage, of every tenant's entries that
// match f. On SQLite, without a time range, it reads the log newest first
// by its key, cut to the page; with one, it reads the integrated entries
// through audit_time, which the sequencer writes (sqliteTimeEntries):
// newest block first, from the cursor's on, skipping the blocks whose
// times lie outside the range. It reads the few pending entries from the
// tail of the log. Each part is cut to the page. PostgreSQL has an index
// on at.
func (db *DB) allAudit(f bulwark.AuditFilter, limit int) (string, []any, error) {
	where, args, err := db.auditWhere(f)
	if err != nil {
		return "", nil, err
	}
	cols := db.auditColumns()
	switch {
	case !db.numbersAtInsert():
		return "SELECT " + cols + " FROM audit_log WHERE 1 = 1" + where, args, nil
	case f.Since.IsZero() && f.Until.IsZero():
		// Newest first by the table's key from the cursor on; seq,
		// derived, has no index.
		if f.Cursor != "" {
			cursor, _ := strconv.ParseInt(f.Cursor, 10, 64) // auditWhere checked it
			where += " AND idx < ?"
			args = append(args, sqliteIdx(cursor))
		}
		return "SELECT * FROM (SELECT " + cols + " FROM audit_log WHERE 1 = 1" + where + " ORDER BY idx DESC LIMIT ?) AS entries",
			append(args, limit+1), nil
	}
	// A block can hold an entry in the range only if its times overlap it.
	blocks, qargs := timeWindow("latest", "earliest", f)
	cursor, cargs := cursorBlocks(f)
	qargs = append(append(append(append(qargs, cargs...), args...), limit+1), args...)
	return "SELECT * FROM (SELECT " + cols + " FROM " + sqliteTimeEntries + " WHERE 1 = 1" + blocks + cursor + where +
			" ORDER BY block DESC, idx DESC LIMIT ?) AS integrated UNION ALL " +
			"SELECT * FROM (SELECT " + cols + " FROM audit_log WHERE " + db.auditPending() + where +
			" ORDER BY idx DESC LIMIT ?) AS pending",
		append(qargs, limit+1), nil
}

// filterNames names the filters f uses, in a fixed order.
func filterNames(f bulwark.AuditFilter) []string {
	names := []string{}
	for _, c := range []struct {
		name string
		used bool
	}{
		{"tenant", f.Tenant != ""}, {"actor", f.Actor != ""}, {"action", f.Action != ""}, {"target", f.Target != ""},
		{"outcome", f.Outcome != ""}, {"request", f.RequestID != ""}, {"since", !f.Since.IsZero()}, {"until", !f.Until.IsZero()}, {"cursor", f.Cursor != ""},
	} {
		if c.used {
			names = append(names, c.name)
		}
	}
	return names
}
