package web

import (
	"context"
	"net/http"

	"github.com/bulwarkhq/bulwark/docs"
)

type statusBody struct {
	Status string `json:"status"`
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
func handleReadyz(ready func(context.Context) error) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if ready != nil {
			if err := ready(r.Context()); err != nil {
				return unavailable(err)
			}
		}
		encode(w, http.StatusOK, statusBody{Status: "ready"})
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
