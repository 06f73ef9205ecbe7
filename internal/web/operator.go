package web

import (
	"net/http"

	bulwark "github.com/bulwarkhq/bulwark"
)

type createTenantRequest struct {
	Slug       string `json:"slug"`
	Name       string `json:"name"`
	AdminEmail string `json:"admin_email"`
}

type createTenantResponse struct {
	Tenant     *bulwark.Tenant     `json:"tenant"`
	Invitation *bulwark.Invitation `json:"invitation"`
}

type createOperatorRequest struct {
	Email string                 `json:"email"`
	Roles []bulwark.OperatorRole `json:"roles"`
}

type createOperatorResponse struct {
	Operator   *bulwark.Operator   `json:"operator"`
	Invitation *bulwark.Invitation `json:"invitation"`
}

func handleListTenants(tenants bulwark.TenantService) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if err := noQuery(r); err != nil {
			return err
		}
		ts, err := tenants.ListTenants(r.Context())
		if err != nil {
			return err
		}
		encode(w, http.StatusOK, listOf(ts, ""))
		return nil
	})
}

func handleCreateTenant(tenants bulwark.TenantService) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		in, err := decode[createTenantRequest](w, r)
		if err != nil {
			return err
		}
		t, inv, err := tenants.CreateTenant(r.Context(), bulwark.NewTenant{Slug: in.Slug, Name: in.Name, AdminEmail: in.AdminEmail})
		if err != nil {
			return err
		}
		created(w, http.StatusCreated, location("/api/v1/operator/tenants", t.ID), createTenantResponse{Tenant: t, Invitation: inv})
		return nil
	})
}

func handleCreateOperator(ops bulwark.OperatorService) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		in, err := decode[createOperatorRequest](w, r)
		if err != nil {
			return err
		}
		// Deny by default: an operator is made with the roles named, and
		// at least one must be.
		if err := bulwark.CheckOperatorRoles("roles", in.Roles); err != nil {
			return err
		}
		o, inv, err := ops.CreateOperator(r.Context(), in.Email, in.Roles...)
		if err != nil {
			return err
		}
		created(w, http.StatusCreated, location("/api/v1/operator/operators", o.ID), createOperatorResponse{Operator: o, Invitation: inv})
		return nil
	})
}
