package web

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	bulwark "github.com/bulwarkhq/bulwark"
)

// BaselineInsert writes one JSON row and returns its id and time.
type BaselineInsert func(ctx context.Context, data []byte) (id string, at time.Time, err error)

// Baseline is the HTTP side of `bulwark bench`'s bare baseline (issue 7:
// "the same HTTP stack ... without authentication, sealing or audit").
// POST /bare goes through the API's own stack: the middleware every
// request passes (access log and metrics, security headers, request id,
// panic recovery), the router with its path checks, the strict JSON body
// reader, and the same 201 answer as a record create (Location, ETag, the
// stored row). What it leaves out is what the comparison prices:
// authentication, authorization, the collection's validation, sealing
// and the audit entry. Nothing but the benchmark serves it.
func Baseline(insert BaselineInsert) http.Handler {
	a := &API{log: slog.New(slog.DiscardHandler), metrics: newMetrics(prometheus.NewRegistry())}
	bare := route{method: http.MethodPost, path: "/bare", access: public, handler: handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		data, err := decodeObject(w, r)
		if err != nil {
			return err
		}
		b, err := json.Marshal(data)
		if err != nil {
			return bulwark.Errorf(bulwark.EInvalid, "request body is not valid JSON")
		}
		id, at, err := insert(r.Context(), b)
		if err != nil {
			return err
		}
		rec := &bulwark.Record{ID: id, Collection: "bare", Version: 1, Data: data, CreatedAt: at, UpdatedAt: at}
		w.Header().Set("ETag", rec.ETag())
		created(w, http.StatusCreated, location("/bare", id), rec)
		return nil
	})}
	return a.wrap(newMux([]route{bare}))
}
