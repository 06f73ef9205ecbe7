package web

import (
	"net/http"

	bulwark "github.com/bulwarkhq/bulwark"
)

// handleListKeys is the key inventory for operators (DATA-3): every
// tenant's keysets with their keys' ids, statuses and dates, the KEK that
// wraps them and the progress of a re-seal. No key material.
func handleListKeys(keys bulwark.KeyService) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if err := noQuery(r); err != nil {
			return err
		}
		if keys == nil {
			return errRouteNotFound
		}
		ks, err := keys.ListKeys(r.Context())
		if err != nil {
			return err
		}
		encode(w, http.StatusOK, listOf(ks, ""))
		return nil
	})
}
