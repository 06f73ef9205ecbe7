package web

import (
	"net/http"
	"time"

	bulwark "github.com/bulwarkhq/bulwark"
)

// handleSearchAudit serves GET /api/v1/audit: the caller's tenant's audit
// entries, newest first, filtered by actor, action (exact, or a prefix
// ending in '.'), target, outcome and a time range (DATA-7).
func handleSearchAudit(a bulwark.AuditService) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		f, err := auditFilter(r, false)
		if err != nil {
			return err
		}
		es, next, err := a.SearchAudit(r.Context(), f)
		if err != nil {
			return err
		}
		encode(w, http.StatusOK, listOf(es, next))
		return nil
	})
}

// handleSearchAllAudit serves GET /api/v1/operator/audit: the same search
// across every tenant and the deployment's own entries, with a tenant
// filter, for operators with the security role (PRIV-1). The service
// records the search itself before answering.
func handleSearchAllAudit(a bulwark.AuditService) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		f, err := auditFilter(r, true)
		if err != nil {
			return err
		}
		es, next, err := a.SearchAllAudit(r.Context(), f)
		if err != nil {
			return err
		}
		encode(w, http.StatusOK, listOf(es, next))
		return nil
	})
}

// auditFilter reads the search's query parameters; withTenant admits the
// tenant filter of the cross-tenant search.
func auditFilter(r *http.Request, withTenant bool) (bulwark.AuditFilter, error) {
	q, err := query(r)
	if err != nil {
		return bulwark.AuditFilter{}, err
	}
	opt, err := listOptions(q)
	if err != nil {
		return bulwark.AuditFilter{}, err
	}
	f := bulwark.AuditFilter{Limit: opt.Limit, Cursor: opt.Cursor}
	for k, vs := range q {
		if len(vs) != 1 || len(vs[0]) > 200 {
			return f, bulwark.FieldError(truncate(k, 64), "give it once, at most 200 characters")
		}
		v := vs[0]
		switch k {
		case "tenant":
			if !withTenant {
				return f, bulwark.FieldError("tenant", "unknown query parameter")
			}
			f.Tenant = v
		case "actor":
			f.Actor = v
		case "action":
			f.Action = v
		case "target":
			f.Target = v
		case "request":
			f.RequestID = v
		case "outcome":
			if v != bulwark.OutcomeSuccess && v != bulwark.OutcomeFailure && v != bulwark.OutcomeDenied {
				return f, bulwark.FieldError("outcome", "must be success, failure or denied")
			}
			f.Outcome = v
		case "since", "until":
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return f, bulwark.FieldError(k, "must be an RFC 3339 time such as 2026-11-01T12:00:00Z")
			}
			if k == "since" {
				f.Since = t
			} else {
				f.Until = t
			}
		default:
			return f, bulwark.FieldError(truncate(k, 64), "unknown query parameter")
		}
	}
	return f, nil
}

// handleExportAudit serves GET /api/v1/audit/export: the tenant's entries
// as JSON Lines with inclusion proofs against a signed checkpoint, which
// `bulwark audit verify-export` checks offline with the public key.
func handleExportAudit(a bulwark.AuditService) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if err := noQuery(r); err != nil {
			return err
		}
		lw := &lazyWriter{w: w, contentType: "application/jsonl; charset=utf-8",
			disposition: `attachment; filename="audit-export.jsonl"`}
		err := a.ExportAudit(r.Context(), lw)
		if err != nil && lw.started {
			// The body has begun: the status cannot change any more. The
			// export is cut short, and its verification will say so.
			return nil
		}
		return err
	})
}

// lazyWriter sends the headers with the first byte, so an error found
// before any output still gets a proper error response.
type lazyWriter struct {
	w                        http.ResponseWriter
	contentType, disposition string
	started                  bool
}

func (l *lazyWriter) Write(p []byte) (int, error) {
	if !l.started {
		l.started = true
		l.w.Header().Set("Content-Type", l.contentType)
		l.w.Header().Set("Content-Disposition", l.disposition)
		l.w.WriteHeader(http.StatusOK)
	}
	return l.w.Write(p)
}
