package bulwark

import (
	"errors"
	"fmt"
	"net/http"
)

// Code classifies an Error. The list is append-only: clients and the HTTP
// status table depend on these exact strings.
type Code string

const (
	EInvalid            Code = "invalid"             // bad input; nothing changed
	EUnauthenticated    Code = "unauthenticated"     // no or bad credentials
	EForbidden          Code = "forbidden"           // authenticated, not allowed
	ENotFound           Code = "not_found"           // missing, or another tenant's
	EConflict           Code = "conflict"            // unique violation, duplicate
	EFailedPrecondition Code = "failed_precondition" // version mismatch (If-Match)
	EUnavailable        Code = "unavailable"         // a dependency is down; retry
	EInternal           Code = "internal"            // a bug; details only in the log
	EGone               Code = "gone"                // used or expired one-time secret
	ETooLarge           Code = "too_large"           // request body over the limit
	ERateLimited        Code = "rate_limited"        // slow down
	EReauthRequired     Code = "reauth_required"     // step-up: re-authenticate first (403)
)

// Error is the one application error type. Message is safe to show to the
// caller; Err is the cause, for the log only.
type Error struct {
	Code    Code
	Message string
	// Fields names the input fields at fault, with a reason for each.
	Fields map[string]string
	Err    error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an Error with the given code and a user-safe message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldError returns an invalid-input error naming one field.
func FieldError(field, reason string) *Error {
	return &Error{Code: EInvalid, Message: "invalid " + field + ": " + reason, Fields: map[string]string{field: reason}}
}

// Conflict returns a conflict error naming one field.
func Conflict(field, reason string) *Error {
	return &Error{Code: EConflict, Message: field + " " + reason, Fields: map[string]string{field: reason}}
}

// ErrorCode returns the code of err, EInternal for an error that is not an
// *Error, and "" for nil.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// ErrorMessage returns the user-safe message of err. Errors that are not an
// *Error never show their text: it may hold internals.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// ErrorFields returns the per-field reasons of err, if any.
func ErrorFields(err error) map[string]string {
	var e *Error
	if errors.As(err, &e) {
		return e.Fields
	}
	return nil
}

// NotFound is the error for a missing object. Another tenant's object gets
// exactly this error too, so the two cannot be told apart.
func NotFound(kind string) *Error {
	return Errorf(ENotFound, "%s not found", kind)
}

// httpStatus is the one table from error codes to HTTP statuses, for the
// API and the console alike.
var httpStatus = map[Code]int{
	EInvalid:            http.StatusBadRequest,
	EUnauthenticated:    http.StatusUnauthorized,
	EForbidden:          http.StatusForbidden,
	ENotFound:           http.StatusNotFound,
	EConflict:           http.StatusConflict,
	EFailedPrecondition: http.StatusPreconditionFailed,
	ETooLarge:           http.StatusRequestEntityTooLarge,
	EGone:               http.StatusGone,
	ERateLimited:        http.StatusTooManyRequests,
	EReauthRequired:     http.StatusForbidden,
	EUnavailable:        http.StatusServiceUnavailable,
	EInternal:           http.StatusInternalServerError,
}

// HTTPStatus is the HTTP status of code, and false for a code the table
// does not know (the caller treats it as internal).
func (c Code) HTTPStatus() (int, bool) {
	s, ok := httpStatus[c]
	return s, ok
}

// Codes lists every error code the status table knows.
func Codes() []Code {
	out := make([]Code, 0, len(httpStatus))
	for c := range httpStatus {
		out = append(out, c)
	}
	return out
}
