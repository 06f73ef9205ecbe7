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

// BaselinePath is where the baseline takes its writes: the record create's
// own route, for the collection "bare".
const BaselinePath = "/api/v1/collections/bare/records"

// Baseline is the HTTP side of `bulwark bench`'s bare baseline (issue 7:
// "the same HTTP stack ... without authentication, sealing or audit").
// A POST to BaselinePath goes through the API's own stack and its record
// create handler: the middleware every request passes (access log and
// metrics, security headers, request id, panic recovery), the router with
// its path checks, the strict JSON body reader, and the create's 201
// answer (Location, ETag, the stored row). What it leaves out is what the
// comparison prices: authentication, authorization (the route is
// public), the collection's validation, sealing and the audit entry.
// Nothing but the benchmark serves it.
func Baseline(insert BaselineInsert) http.Handler {
	a := &API{log: slog.New(slog.DiscardHandler), metrics: newMetrics(prometheus.NewRegistry())}
	create := route{method: http.MethodPost, path: "/api/v1/collections/{collection}/records", access: public,
		handler: handleCreateRecord(bareRecords{insert: insert})}
	return a.wrap(newMux([]route{create}))
}

// bareRecords creates records as bare rows. The baseline routes nothing
// but creates to it, so the embedded service's other methods, left nil,
// are never called.
type bareRecords struct {
	bulwark.RecordService
	insert BaselineInsert
}

func (b bareRecords) CreateRecord(ctx context.Context, collection string, data map[string]any) (*bulwark.Record, error) {
	row, err := json.Marshal(data)
	if err != nil {
		return nil, bulwark.Errorf(bulwark.EInvalid, "request body is not valid JSON")
	}
	id, at, err := b.insert(ctx, row)
	if err != nil {
		return nil, err
	}
	return &bulwark.Record{ID: id, Collection: collection, Version: 1, Data: data, CreatedAt: at, UpdatedAt: at}, nil
}
