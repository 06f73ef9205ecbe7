package web

import (
	"net/http"

	bulwark "github.com/bulwarkhq/bulwark"
)

// createRoleRequest has no built_in: only the code makes built-in roles.
type createRoleRequest struct {
	Name        string               `json:"name"`
	Description string               `json:"description"`
	Permissions []bulwark.Permission `json:"permissions"`
}

func handleListRoles(roles bulwark.RoleService) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if err := noQuery(r); err != nil {
			return err
		}
		rs, err := roles.ListRoles(r.Context())
		if err != nil {
			return err
		}
		encode(w, http.StatusOK, listOf(rs, ""))
		return nil
	})
}

func handleCreateRole(roles bulwark.RoleService) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		in, err := decode[createRoleRequest](w, r)
		if err != nil {
			return err
		}
		role, err := roles.CreateRole(r.Context(), bulwark.Role{Name: in.Name, Description: in.Description, Permissions: in.Permissions})
		if err != nil {
			return err
		}
		created(w, http.StatusCreated, location("/api/v1/roles", role.Name), role)
		return nil
	})
}

func handleDeleteRole(roles bulwark.RoleService) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if err := roles.DeleteRole(r.Context(), r.PathValue("name")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}
