package web

import (
	"net/http"

	bulwark "github.com/bulwarkhq/bulwark"
)

// routeTable declares every route the API serves, with who may call it.
// Nothing is served that is not here; a route without an access level
// stops the process at startup (AUTH-1, PRIV-1). routes_test.go walks it;
// docs/openapi.yaml describes exactly these routes.
func (a *API) routeTable() []route {
	d := a.deps
	return []route{
		// Probes, outside /api/v1.
		{"GET", "/healthz", public, handleHealthz()},
		{"GET", "/readyz", public, handleReadyz(d.Ready, d.Warnings)},

		{"GET", "/api/v1/openapi.yaml", public, handleOpenAPI()},

		// Sessions.
		{"POST", "/api/v1/auth/login", public, handleLogin(d.Auth)},
		{"POST", "/api/v1/auth/activate", public, handleActivate(d.Auth)},
		{"POST", "/api/v1/auth/logout", authenticated, handleLogoutSSO(d.Auth, d.SSO)},
		{"GET", "/api/v1/auth/me", authenticated, handleMe()},

		// A person's own credentials (AUTH-2, AUTH-3, AUTH-7). An
		// incomplete session (second factor, enrolment or password change
		// owed) holds no grants and reaches only these.
		{"POST", "/api/v1/auth/password", authenticated, handleChangePassword(d.Account)},
		{"POST", "/api/v1/auth/password/reset-request", public, handleResetRequest(d.Account)},
		{"POST", "/api/v1/auth/password/reset", public, handleReset(d.Account)},
		{"POST", "/api/v1/auth/reauth", authenticated, handleReauth(d.Account)},
		{"POST", "/api/v1/auth/mfa/verify", authenticated, handleVerifyMFA(d.Account)},
		{"POST", "/api/v1/auth/mfa/totp", authenticated, handleBeginTOTP(d.Account)},
		{"POST", "/api/v1/auth/mfa/totp/confirm", authenticated, handleConfirmTOTP(d.Account)},
		{"DELETE", "/api/v1/auth/mfa/totp", authenticated, handleRemoveTOTP(d.Account)},
		{"POST", "/api/v1/auth/mfa/recovery-codes", authenticated, handleRecoveryCodes(d.Account)},
		{"GET", "/api/v1/auth/mfa/passkeys", authenticated, handleListPasskeys(d.Account)},
		{"POST", "/api/v1/auth/mfa/passkey/register", authenticated, handleBeginPasskeyRegistration(d.Account)},
		{"POST", "/api/v1/auth/mfa/passkey/register/finish", authenticated, handleFinishPasskeyRegistration(d.Account)},
		{"POST", "/api/v1/auth/mfa/passkey/login", authenticated, handleBeginPasskeyLogin(d.Account)},
		{"POST", "/api/v1/auth/mfa/passkey/login/finish", authenticated, handleFinishPasskeyLogin(d.Account)},
		{"DELETE", "/api/v1/auth/mfa/passkeys/{id}", authenticated, handleRemovePasskey(d.Account)},
		{"GET", "/api/v1/auth/sessions", authenticated, handleListSessions(d.Sessions)},
		{"DELETE", "/api/v1/auth/sessions/{id}", authenticated, handleRevokeSession(d.Sessions)},

		// The vendor's staff (PRIV-1: no tenant data here).
		{"POST", "/api/v1/operator/login", public, handleOperatorLogin(d.Auth)},
		{"GET", "/api/v1/operator/tenants", operator(bulwark.OperatorAdmin), handleListTenants(d.Tenants)},
		{"POST", "/api/v1/operator/tenants", operator(bulwark.OperatorAdmin), handleCreateTenant(d.Tenants)},
		{"POST", "/api/v1/operator/operators", operator(bulwark.OperatorAdmin), handleCreateOperator(d.Operators)},
		{"GET", "/api/v1/operator/keys", operator(bulwark.OperatorAdmin), handleListKeys(d.Keys)},
		{"GET", "/api/v1/operator/audit", operator(bulwark.OperatorSecurity), handleSearchAllAudit(d.Audit)},

		// Users of the caller's tenant (AUTH-6).
		{"GET", "/api/v1/users", tenant(bulwark.PermUsersRead), handleListUsers(d.Users)},
		{"POST", "/api/v1/users", tenant(bulwark.PermUsersManage), handleInviteUser(d.Users)},
		{"GET", "/api/v1/users/{id}", tenant(bulwark.PermUsersRead), handleGetUser(d.Users)},
		{"PATCH", "/api/v1/users/{id}", tenant(bulwark.PermUsersManage), handleUpdateUser(d.Users)},
		{"DELETE", "/api/v1/users/{id}", tenant(bulwark.PermUsersManage), handleDeleteUser(d.Users)},
		{"GET", "/api/v1/users/{id}/sessions", tenant(bulwark.PermUsersManage), handleListUserSessions(d.Sessions)},
		{"DELETE", "/api/v1/users/{id}/sessions", tenant(bulwark.PermUsersManage), handleRevokeUserSessions(d.Sessions)},
		{"DELETE", "/api/v1/users/{id}/mfa", tenant(bulwark.PermUsersManage), handleResetUserMFA(d.Account)},

		// Authentication settings of the caller's tenant.
		{"GET", "/api/v1/settings/password-policy", tenant(bulwark.PermSettingsManage), handleGetPasswordPolicy(d.Settings)},
		{"PUT", "/api/v1/settings/password-policy", tenant(bulwark.PermSettingsManage), handlePutPasswordPolicy(d.Settings)},
		{"GET", "/api/v1/settings/authentication", tenant(bulwark.PermSettingsManage), handleGetAuthSettings(d.Settings)},
		{"PUT", "/api/v1/settings/authentication", tenant(bulwark.PermSettingsManage), handlePutAuthSettings(d.Settings)},

		// Single sign-on configuration of the caller's tenant (AUTH-4, AUTH-5).
		// A provider vouches for whom it likes, owners included, so adding,
		// changing or deleting one (its mappings and keys too) is for owners.
		{"GET", "/api/v1/settings/sso", tenant(bulwark.PermSettingsManage), handleGetSSOSettings(d.SSO)},
		{"PUT", "/api/v1/settings/sso", tenant(bulwark.PermSettingsManage), handlePutSSOSettings(d.SSO)},
		{"GET", "/api/v1/settings/sso/providers", tenant(bulwark.PermSettingsManage), handleListSSOProviders(d.SSO)},
		{"POST", "/api/v1/settings/sso/providers", tenant(bulwark.PermTenantOwn), handleCreateSSOProvider(d.SSO)},
		{"GET", "/api/v1/settings/sso/providers/{id}", tenant(bulwark.PermSettingsManage), handleGetSSOProvider(d.SSO)},
		{"PUT", "/api/v1/settings/sso/providers/{id}", tenant(bulwark.PermTenantOwn), handleUpdateSSOProvider(d.SSO)},
		{"DELETE", "/api/v1/settings/sso/providers/{id}", tenant(bulwark.PermTenantOwn), handleDeleteSSOProvider(d.SSO)},
		{"POST", "/api/v1/settings/sso/providers/{id}/sp-keys", tenant(bulwark.PermTenantOwn), handleRolloverSPKey(d.SSO)},

		// Browser single sign-on: public, the IdP's signed answer is the
		// credential (sso.go).
		{"GET", "/sso/start", public, handleSSOStartTenant(d.SSO)},
		{"GET", "/sso/{tenant}/{provider}/start", public, handleSSOStart(d.SSO)},
		{"GET", "/sso/{tenant}/oidc/{provider}/callback", public, handleOIDCCallback(d.SSO)},
		{"POST", "/sso/{tenant}/saml/{provider}/acs", public, handleSAMLACS(d.SSO)},
		{"GET", "/sso/{tenant}/saml/{provider}/metadata", public, handleSAMLMetadata(d.SSO)},
		{"POST", "/sso/{tenant}/saml/{provider}/slo", public, handleSAMLSLO(d.SSO)},
		{"GET", "/sso/{tenant}/saml/{provider}/slo", public, handleSAMLSLO(d.SSO)},

		// Custom roles.
		{"GET", "/api/v1/roles", tenant(bulwark.PermUsersRead), handleListRoles(d.Roles)},
		{"POST", "/api/v1/roles", tenant(bulwark.PermRolesManage), handleCreateRole(d.Roles)},
		{"DELETE", "/api/v1/roles/{name}", tenant(bulwark.PermRolesManage), handleDeleteRole(d.Roles)},

		// API tokens.
		{"GET", "/api/v1/tokens", tenant(bulwark.PermTokensManage), handleListTokens(d.Tokens)},
		{"POST", "/api/v1/tokens", tenant(bulwark.PermTokensManage), handleCreateToken(d.Tokens)},
		{"DELETE", "/api/v1/tokens/{id}", tenant(bulwark.PermTokensManage), handleRevokeToken(d.Tokens)},

		// The tenant's audit log (DATA-7).
		{"GET", "/api/v1/audit", tenant(bulwark.PermAuditRead), handleSearchAudit(d.Audit)},
		{"GET", "/api/v1/audit/export", tenant(bulwark.PermAuditRead), handleExportAudit(d.Audit)},

		// Collections (DATA-1). The list shows only what the caller may read.
		{"GET", "/api/v1/collections", some(bulwark.PermCollectionsRead), handleListCollections(d.Collections)},
		{"POST", "/api/v1/collections", tenant(bulwark.PermCollectionsManage), handleCreateCollection(d.Collections)},
		{"GET", "/api/v1/collections/{collection}", scoped(bulwark.PermCollectionsRead), handleGetCollection(d.Collections)},
		{"PATCH", "/api/v1/collections/{collection}", tenant(bulwark.PermCollectionsManage), handleUpdateCollection(d.Collections)},
		{"DELETE", "/api/v1/collections/{collection}", tenant(bulwark.PermCollectionsManage), handleDeleteCollection(d.Collections)},

		// Records, need-to-know per collection.
		{"GET", "/api/v1/collections/{collection}/records", scoped(bulwark.PermRecordsRead), handleListRecords(d.Collections, d.Records)},
		{"POST", "/api/v1/collections/{collection}/records", scoped(bulwark.PermRecordsWrite), handleCreateRecord(d.Records)},
		{"GET", "/api/v1/collections/{collection}/records/{id}", scoped(bulwark.PermRecordsRead), handleGetRecord(d.Records)},
		{"PATCH", "/api/v1/collections/{collection}/records/{id}", scoped(bulwark.PermRecordsWrite), handleUpdateRecord(d.Records)},
		{"DELETE", "/api/v1/collections/{collection}/records/{id}", scoped(bulwark.PermRecordsDelete), handleDeleteRecord(d.Records)},
	}
}

// handlerFunc adapts a handler that returns an error; writeError answers it.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (f handlerFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := f(w, r); err != nil {
		writeError(w, r, err)
	}
}
