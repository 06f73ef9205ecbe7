package web

import (
	"net/http"

	bulwark "github.com/bulwarkhq/bulwark"
)

type createTokenRequest struct {
	Name      string       `json:"name"`
	Grant     grantRequest `json:"grant"`
	ExpiresIn string       `json:"expires_in"`
}

func handleListTokens(tokens bulwark.TokenService) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if err := noQuery(r); err != nil {
			return err
		}
		ts, err := tokens.ListTokens(r.Context())
		if err != nil {
			return err
		}
		encode(w, http.StatusOK, listOf(ts, ""))
		return nil
	})
}

// handleCreateToken returns the token's secret, once; only its hash is kept.
func handleCreateToken(tokens bulwark.TokenService) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		in, err := decode[createTokenRequest](w, r)
		if err != nil {
			return err
		}
		t, err := tokens.CreateToken(r.Context(), bulwark.NewAPIToken{
			Name:      in.Name,
			Grant:     bulwark.Grant{Role: in.Grant.Role, Collection: in.Grant.Collection},
			ExpiresIn: in.ExpiresIn,
		})
		if err != nil {
			return err
		}
		created(w, http.StatusCreated, location("/api/v1/tokens", t.ID), t)
		return nil
	})
}

func handleRevokeToken(tokens bulwark.TokenService) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if err := tokens.RevokeToken(r.Context(), r.PathValue("id")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}
