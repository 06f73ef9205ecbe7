package web

import (
	"errors"
	"net/http"

	bulwark "github.com/bulwarkhq/bulwark"
)

// Errors the web layer makes itself. errMediaType is EInvalid for clients
// that only know the codes, but gets its own status (415).
var (
	errMediaType        = bulwark.Errorf(bulwark.EInvalid, "Content-Type must be application/json")
	errMethodNotAllowed = bulwark.Errorf(bulwark.EInvalid, "method not allowed")
	errRouteNotFound    = bulwark.Errorf(bulwark.ENotFound, "no such route")
	errNoPrincipal      = bulwark.Errorf(bulwark.EUnauthenticated, "authentication required: send Authorization: Bearer <token>")
	errBadCredentials   = bulwark.Errorf(bulwark.EUnauthenticated, "invalid or expired bearer token")
	errForbidden        = bulwark.Errorf(bulwark.EForbidden, "you do not have permission for this")
)

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    bulwark.Code      `json:"code"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields,omitempty"`
}

// writeError is the one way a handler reports a failure. The message and
// fields of a bulwark.Error are safe to show; anything else, and every
// internal error, gets a generic message and its cause goes to the log only.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := bulwark.ErrorCode(err)
	status, ok := code.HTTPStatus()
	if !ok {
		code, status = bulwark.EInternal, http.StatusInternalServerError
	}
	switch {
	case errors.Is(err, errMediaType):
		status = http.StatusUnsupportedMediaType
	case errors.Is(err, errMethodNotAllowed):
		status = http.StatusMethodNotAllowed
	}
	body := errorDetail{Code: code, Message: bulwark.ErrorMessage(err), Fields: bulwark.ErrorFields(err)}
	if status >= 500 {
		// A 5xx message may carry internals (a driver error wrapped in an
		// unavailable code): only the log sees it.
		body.Message, body.Fields = genericMessage(code), nil
	}
	if st := stateFrom(r.Context()); st != nil {
		st.err = err
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="bulwark"`)
	}
	encode(w, status, errorBody{Error: body})
}

func genericMessage(code bulwark.Code) string {
	if code == bulwark.EUnavailable {
		return "service temporarily unavailable, retry later"
	}
	return "internal error"
}

// unavailable reports a failed dependency as 503, whatever its own code.
func unavailable(err error) error {
	return &bulwark.Error{Code: bulwark.EUnavailable, Message: "not ready", Err: err}
}
