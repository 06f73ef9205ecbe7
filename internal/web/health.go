package web

import (
	"context"
	"net/http"

	"github.com/bulwarkhq/bulwark/docs"
)

type statusBody struct {
	Status   string   `json:"status"`
	Warnings []string `json:"warnings,omitempty"`
}

// handleHealthz answers as long as the process serves HTTP (liveness).
func handleHealthz() http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		encode(w, http.StatusOK, statusBody{Status: "ok"})
		return nil
	})
}

// handleReadyz answers 200 only when ready reports the dependencies up, so
// a load balancer stops sending traffic to a node that cannot serve it.
// Degradations that do not stop serving (an audit replica behind) are
// listed as warnings in a 200 answer, for monitoring to alert on.
func handleReadyz(ready func(context.Context) error, warnings func() []string) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if ready != nil {
			if err := ready(r.Context()); err != nil {
				return unavailable(err)
			}
		}
		body := statusBody{Status: "ready"}
		if warnings != nil {
			if body.Warnings = warnings(); len(body.Warnings) > 0 {
				body.Status = "degraded"
			}
		}
		encode(w, http.StatusOK, body)
		return nil
	})
}

func handleOpenAPI() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(docs.OpenAPI)
	})
}
