package web

import (
	"net/http"

	bulwark "github.com/bulwarkhq/bulwark"
)

type grantRequest struct {
	Role       string `json:"role"`
	Collection string `json:"collection,omitempty"`
}

func toGrants(in []grantRequest) []bulwark.Grant {
	if in == nil {
		return nil
	}
	out := make([]bulwark.Grant, len(in))
	for i, g := range in {
		out[i] = bulwark.Grant{Role: g.Role, Collection: g.Collection}
	}
	return out
}

type inviteUserRequest struct {
	Email  string         `json:"email"`
	Grants []grantRequest `json:"grants"`
}

type inviteUserResponse struct {
	User       *bulwark.User       `json:"user"`
	Invitation *bulwark.Invitation `json:"invitation"`
}

type updateUserRequest struct {
	Status *bulwark.Status `json:"status"`
	Grants *[]grantRequest `json:"grants"`
}

func handleListUsers(users bulwark.UserService) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		q, err := query(r)
		if err != nil {
			return err
		}
		opt, err := listOptions(q)
		if err != nil {
			return err
		}
		for k := range q {
			return bulwark.FieldError(truncate(k, 64), "unknown query parameter")
		}
		us, next, err := users.ListUsers(r.Context(), opt)
		if err != nil {
			return err
		}
		encode(w, http.StatusOK, listOf(us, next))
		return nil
	})
}

func handleInviteUser(users bulwark.UserService) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		in, err := decode[inviteUserRequest](w, r)
		if err != nil {
			return err
		}
		u, inv, err := users.InviteUser(r.Context(), bulwark.NewUser{Email: in.Email, Grants: toGrants(in.Grants)})
		if err != nil {
			return err
		}
		created(w, http.StatusCreated, location("/api/v1/users", u.ID), inviteUserResponse{User: u, Invitation: inv})
		return nil
	})
}

func handleGetUser(users bulwark.UserService) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		u, err := users.GetUser(r.Context(), r.PathValue("id"))
		if err != nil {
			return err
		}
		encode(w, http.StatusOK, u)
		return nil
	})
}

func handleUpdateUser(users bulwark.UserService) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		in, err := decode[updateUserRequest](w, r)
		if err != nil {
			return err
		}
		upd := bulwark.UserUpdate{Status: in.Status}
		if in.Grants != nil {
			gs := toGrants(*in.Grants)
			if gs == nil {
				gs = []bulwark.Grant{}
			}
			upd.Grants = &gs
		}
		u, err := users.UpdateUser(r.Context(), r.PathValue("id"), upd)
		if err != nil {
			return err
		}
		encode(w, http.StatusOK, u)
		return nil
	})
}

func handleDeleteUser(users bulwark.UserService) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if err := users.DeleteUser(r.Context(), r.PathValue("id")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}
