package web

import (
	"encoding/json"
	"net/http"

	bulwark "github.com/bulwarkhq/bulwark"
)

// Handlers for a person's own credentials (password change and reset,
// second factors, step-up, sessions) and the tenant's authentication
// settings (AUTH-2, AUTH-3, AUTH-6, AUTH-7).

type passwordChangeRequest struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

type resetRequestRequest struct {
	Tenant string `json:"tenant"`
	Email  string `json:"email"`
}

type resetRequest struct {
	Token    string `json:"token"`
	Password string `json:"password"`
}

type reauthRequest struct {
	Password string `json:"password,omitempty"`
	Code     string `json:"code,omitempty"`
}

type codeRequest struct {
	Code         string `json:"code,omitempty"`
	RecoveryCode string `json:"recovery_code,omitempty"`
}

type totpConfirmResponse struct {
	sessionResponse
	RecoveryCodes []string `json:"recovery_codes,omitempty"`
}

type recoveryCodesResponse struct {
	RecoveryCodes []string `json:"recovery_codes"`
}

type policyResponse struct {
	Policy   bulwark.PasswordPolicy `json:"policy"`
	Warnings []string               `json:"warnings"`
}

func newSessionResponse(s *bulwark.Session) sessionResponse {
	return sessionResponse{Token: s.Token, ExpiresAt: s.ExpiresAt, Next: s.Next}
}

func handleChangePassword(a bulwark.AccountService) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		in, err := decode[passwordChangeRequest](w, r)
		if err != nil {
			return err
		}
		s, err := a.ChangePassword(r.Context(), in.CurrentPassword, in.NewPassword)
		if err != nil {
			return err
		}
		encode(w, http.StatusOK, newSessionResponse(s))
		return nil
	})
}

func handleResetRequest(a bulwark.AccountService) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		in, err := decode[resetRequestRequest](w, r)
		if err != nil {
			return err
		}
		if err := a.RequestPasswordReset(r.Context(), in.Tenant, in.Email); err != nil {
			return err
		}
		// The same answer whether or not the account exists.
		w.WriteHeader(http.StatusAccepted)
		return nil
	})
}

func handleReset(a bulwark.AccountService) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		in, err := decode[resetRequest](w, r)
		if err != nil {
			return err
		}
		if err := a.ResetPassword(r.Context(), in.Token, in.Password); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

func handleReauth(a bulwark.AccountService) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		in, err := decode[reauthRequest](w, r)
		if err != nil {
			return err
		}
		s, err := a.Reauthenticate(r.Context(), in.Password, in.Code)
		if err != nil {
			return err
		}
		encode(w, http.StatusOK, newSessionResponse(s))
		return nil
	})
}

func handleBeginTOTP(a bulwark.AccountService) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		e, err := a.BeginTOTP(r.Context())
		if err != nil {
			return err
		}
		encode(w, http.StatusOK, e)
		return nil
	})
}

func handleConfirmTOTP(a bulwark.AccountService) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		in, err := decode[codeRequest](w, r)
		if err != nil {
			return err
		}
		s, codes, err := a.ConfirmTOTP(r.Context(), in.Code)
		if err != nil {
			return err
		}
		encode(w, http.StatusOK, totpConfirmResponse{sessionResponse: newSessionResponse(s), RecoveryCodes: codes})
		return nil
	})
}

func handleRemoveTOTP(a bulwark.AccountService) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		s, err := a.RemoveTOTP(r.Context())
		if err != nil {
			return err
		}
		encode(w, http.StatusOK, newSessionResponse(s))
		return nil
	})
}

func handleVerifyMFA(a bulwark.AccountService) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		in, err := decode[codeRequest](w, r)
		if err != nil {
			return err
		}
		var s *bulwark.Session
		if in.RecoveryCode != "" {
			s, err = a.UseRecoveryCode(r.Context(), in.RecoveryCode)
		} else {
			s, err = a.VerifyTOTP(r.Context(), in.Code)
		}
		if err != nil {
			return err
		}
		encode(w, http.StatusOK, newSessionResponse(s))
		return nil
	})
}

func handleRecoveryCodes(a bulwark.AccountService) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		codes, err := a.RegenerateRecoveryCodes(r.Context())
		if err != nil {
			return err
		}
		encode(w, http.StatusOK, recoveryCodesResponse{RecoveryCodes: codes})
		return nil
	})
}

func handleResetUserMFA(a bulwark.AccountService) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if err := a.ResetUserMFA(r.Context(), r.PathValue("id")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

func handleListSessions(s bulwark.SessionService) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		list, err := s.ListSessions(r.Context())
		if err != nil {
			return err
		}
		encode(w, http.StatusOK, map[string]any{"sessions": list})
		return nil
	})
}

func handleRevokeSession(s bulwark.SessionService) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if err := s.RevokeSession(r.Context(), r.PathValue("id")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

func handleListUserSessions(s bulwark.SessionService) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		list, err := s.ListUserSessions(r.Context(), r.PathValue("id"))
		if err != nil {
			return err
		}
		encode(w, http.StatusOK, map[string]any{"sessions": list})
		return nil
	})
}

func handleRevokeUserSessions(s bulwark.SessionService) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if err := s.RevokeUserSessions(r.Context(), r.PathValue("id")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

func handleGetPasswordPolicy(s bulwark.SettingsService) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		set, err := s.AuthSettings(r.Context())
		if err != nil {
			return err
		}
		encode(w, http.StatusOK, policyResponse{Policy: set.PasswordPolicy, Warnings: set.PasswordPolicy.Warnings()})
		return nil
	})
}

func handlePutPasswordPolicy(s bulwark.SettingsService) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		in, err := decode[bulwark.PasswordPolicy](w, r)
		if err != nil {
			return err
		}
		p, err := s.SetPasswordPolicy(r.Context(), in)
		if err != nil {
			return err
		}
		// Opt-ins that NIST advises against are allowed, with a warning.
		encode(w, http.StatusOK, policyResponse{Policy: *p, Warnings: p.Warnings()})
		return nil
	})
}

func handleGetAuthSettings(s bulwark.SettingsService) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		set, err := s.AuthSettings(r.Context())
		if err != nil {
			return err
		}
		encode(w, http.StatusOK, set)
		return nil
	})
}

func handlePutAuthSettings(s bulwark.SettingsService) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		in, err := decode[bulwark.AuthSettings](w, r)
		if err != nil {
			return err
		}
		set, err := s.SetAuthSettings(r.Context(), in)
		if err != nil {
			return err
		}
		encode(w, http.StatusOK, set)
		return nil
	})
}

type passkeyFinishRequest struct {
	Name       string          `json:"name,omitempty"`
	Credential json.RawMessage `json:"credential"`
}

func handleListPasskeys(a bulwark.AccountService) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		keys, err := a.Passkeys(r.Context())
		if err != nil {
			return err
		}
		encode(w, http.StatusOK, map[string]any{"passkeys": keys})
		return nil
	})
}

// writeRaw sends options made by the WebAuthn library as they are.
func writeRaw(w http.ResponseWriter, raw json.RawMessage) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	w.Write(raw)
}

func handleBeginPasskeyRegistration(a bulwark.AccountService) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		raw, err := a.BeginPasskeyRegistration(r.Context())
		if err != nil {
			return err
		}
		writeRaw(w, raw)
		return nil
	})
}

func handleFinishPasskeyRegistration(a bulwark.AccountService) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		in, err := decode[passkeyFinishRequest](w, r)
		if err != nil {
			return err
		}
		s, err := a.FinishPasskeyRegistration(r.Context(), in.Name, in.Credential)
		if err != nil {
			return err
		}
		encode(w, http.StatusOK, newSessionResponse(s))
		return nil
	})
}

func handleBeginPasskeyLogin(a bulwark.AccountService) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		raw, err := a.BeginPasskeyLogin(r.Context())
		if err != nil {
			return err
		}
		writeRaw(w, raw)
		return nil
	})
}

func handleFinishPasskeyLogin(a bulwark.AccountService) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		in, err := decode[passkeyFinishRequest](w, r)
		if err != nil {
			return err
		}
		s, err := a.FinishPasskeyLogin(r.Context(), in.Credential)
		if err != nil {
			return err
		}
		encode(w, http.StatusOK, newSessionResponse(s))
		return nil
	})
}

func handleRemovePasskey(a bulwark.AccountService) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		s, err := a.RemovePasskey(r.Context(), r.PathValue("id"))
		if err != nil {
			return err
		}
		encode(w, http.StatusOK, newSessionResponse(s))
		return nil
	})
}
