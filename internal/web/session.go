package web

import (
	"net/http"
	"time"

	bulwark "github.com/bulwarkhq/bulwark"
)

// Request bodies hold only what a client may set (no mass assignment).

type loginRequest struct {
	Tenant   string `json:"tenant"`
	Email    string `json:"email"`
	Password string `json:"password"`
}

type operatorLoginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

type activateRequest struct {
	Token    string `json:"token"`
	Password string `json:"password"`
}

type sessionResponse struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
	// Next is what the session owes before it is complete (mfa, enrol,
	// password); absent for a complete session.
	Next string `json:"next,omitempty"`
}

func handleLogin(auth bulwark.AuthService) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		in, err := decode[loginRequest](w, r)
		if err != nil {
			return err
		}
		s, err := auth.Login(r.Context(), bulwark.Credentials{Tenant: in.Tenant, Email: in.Email, Password: in.Password})
		if err != nil {
			return err
		}
		encode(w, http.StatusOK, newSessionResponse(s))
		return nil
	})
}

func handleOperatorLogin(auth bulwark.AuthService) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		in, err := decode[operatorLoginRequest](w, r)
		if err != nil {
			return err
		}
		s, err := auth.OperatorLogin(r.Context(), in.Email, in.Password)
		if err != nil {
			return err
		}
		encode(w, http.StatusOK, newSessionResponse(s))
		return nil
	})
}

func handleActivate(auth bulwark.AuthService) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		in, err := decode[activateRequest](w, r)
		if err != nil {
			return err
		}
		if err := auth.Activate(r.Context(), in.Token, in.Password); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

func handleLogout(auth bulwark.AuthService) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if err := auth.Logout(r.Context()); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

type meResponse struct {
	Kind   bulwark.PrincipalKind `json:"kind"`
	ID     string                `json:"id"`
	Tenant string                `json:"tenant,omitempty"`
	Grants []grantResponse       `json:"grants"`
	Stage  string                `json:"stage,omitempty"`
}

type grantResponse struct {
	Role        string               `json:"role"`
	Collection  string               `json:"collection,omitempty"`
	Permissions []bulwark.Permission `json:"permissions"`
}

// handleMe shows the caller who the server thinks they are. Internal ids
// (tenant id, session id) are not shown: the slug names the tenant.
func handleMe() http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		p := bulwark.FromContext(r.Context())
		if p == nil {
			return errNoPrincipal
		}
		out := meResponse{Kind: p.Kind, ID: p.ID, Tenant: p.TenantSlug, Grants: []grantResponse{}, Stage: p.Stage}
		for _, g := range p.Grants {
			perms := g.Permissions
			if perms == nil {
				perms = []bulwark.Permission{}
			}
			out.Grants = append(out.Grants, grantResponse{Role: g.Role, Collection: g.Collection, Permissions: perms})
		}
		encode(w, http.StatusOK, out)
		return nil
	})
}
