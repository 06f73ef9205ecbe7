package web

import (
	"net/http"
	"net/url"
	"strings"

	bulwark "github.com/bulwarkhq/bulwark"
)

// handleListRecords pages through a collection. Every query parameter other
// than limit and cursor is an equality filter on a field of the collection.
func handleListRecords(cs bulwark.CollectionService, records bulwark.RecordService) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		name := r.PathValue("collection")
		q, err := query(r)
		if err != nil {
			return err
		}
		opt, err := listOptions(q)
		if err != nil {
			return err
		}
		if len(q) > 0 {
			// Every other query parameter filters a field; the store reads
			// each value against the collection's schema.
			opt.Filters = make(map[string]string, len(q))
			for k, vs := range q {
				if len(vs) != 1 {
					return bulwark.FieldError(truncate(k, 64), "filter on a field once")
				}
				opt.Filters[k] = vs[0]
			}
		}
		rs, next, err := records.ListRecords(r.Context(), name, opt)
		if err != nil {
			return err
		}
		encode(w, http.StatusOK, listOf(rs, next))
		return nil
	})
}

// handleCreateRecord takes the record's data object as the whole body.
func handleCreateRecord(records bulwark.RecordService) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		data, err := decodeObject(w, r)
		if err != nil {
			return err
		}
		rec, err := records.CreateRecord(r.Context(), r.PathValue("collection"), data)
		if err != nil {
			return err
		}
		w.Header().Set("ETag", rec.ETag())
		created(w, http.StatusCreated, location("/api/v1/collections/"+url.PathEscape(r.PathValue("collection"))+"/records", rec.ID), rec)
		return nil
	})
}

func handleGetRecord(records bulwark.RecordService) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		rec, err := records.GetRecord(r.Context(), r.PathValue("collection"), r.PathValue("id"))
		if err != nil {
			return err
		}
		w.Header().Set("ETag", rec.ETag())
		encode(w, http.StatusOK, rec)
		return nil
	})
}

// handleUpdateRecord applies a partial update (null removes a value). With
// If-Match it only applies to that version: lost updates become 412.
func handleUpdateRecord(records bulwark.RecordService) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		version, err := ifMatch(r)
		if err != nil {
			return err
		}
		patch, err := decodeObject(w, r)
		if err != nil {
			return err
		}
		rec, err := records.UpdateRecord(r.Context(), r.PathValue("collection"), r.PathValue("id"), patch, version)
		if err != nil {
			return err
		}
		w.Header().Set("ETag", rec.ETag())
		encode(w, http.StatusOK, rec)
		return nil
	})
}

func handleDeleteRecord(records bulwark.RecordService) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		version, err := ifMatch(r)
		if err != nil {
			return err
		}
		if err := records.DeleteRecord(r.Context(), r.PathValue("collection"), r.PathValue("id"), version); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

// ifMatch reads the version an If-Match header asks for: 0 when absent or
// "*" (any version), an error when it is not a single entity tag we made.
func ifMatch(r *http.Request) (int64, error) {
	vs := r.Header.Values("If-Match")
	if len(vs) == 0 {
		return 0, nil
	}
	if len(vs) == 1 && strings.TrimSpace(vs[0]) == "*" {
		return 0, nil
	}
	if len(vs) == 1 {
		if v, ok := bulwark.ParseETag(vs[0]); ok {
			return v, nil
		}
	}
	return 0, bulwark.FieldError("If-Match", `must be one entity tag from an ETag header, such as "3"`)
}
