// Package labspace holds the domain of the labspace workspace platform: the
// objects users work with, their validation rules, the roles and permissions,
// and the error codes every layer speaks. It depends on nothing but the
// standard library; storage, HTTP and runtimes live in their own packages.
package labspace

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Error codes. Each maps to one HTTP status in the api package.
const (
	EINVALID       = "invalid"                // malformed input: 400
	EUNAUTHORIZED  = "unauthorized"           // no or bad credentials: 401
	EFORBIDDEN     = "forbidden"              // visible but not allowed: 403
	ENOTFOUND      = "not_found"              // missing, or not visible to the caller: 404
	ECONFLICT      = "conflict"               // duplicate name, stale resourceVersion, in use: 409
	EPRECONDITION  = "precondition_failed"    // a stale If-Match: 412
	EUNPROCESSABLE = "unprocessable"          // well-formed but impossible: 422
	ETOOMANY       = "too_many_requests"      // slow down (Error.RetryAfter): 429
	ETOOLARGE      = "too_large"              // a body over its limit: 413
	EMETHOD        = "method_not_allowed"     // a known path, another method: 405
	EUNSUPPORTED   = "unsupported_media_type" // a body of a type not taken: 415
	ENOTACCEPTABLE = "not_acceptable"         // no answer of a type the Accept header takes: 406
	EINTERNAL      = "internal"               // anything else: 500, details logged only
)

// FieldError names one field at fault by its JSON path.
type FieldError struct {
	// The JSON path of the field at fault, e.g. spec.quota.gpus.
	Field string `json:"field"`
	// What is wrong with it.
	Detail string `json:"detail"`
}

// Error is the one application error type. Message is safe to show a user.
type Error struct {
	Code    string
	Message string
	Fields  []FieldError
	// RetryAfter, in seconds, goes with ETOOMANY.
	RetryAfter int
}

func (e *Error) Error() string {
	if len(e.Fields) == 0 {
		return e.Message
	}
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Detail
	}
	return e.Message + " (" + strings.Join(parts, "; ") + ")"
}

// Errorf returns an *Error with the given code.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err, EINTERNAL for errors that are not *Error.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if err == nil {
		return ""
	}
	return EINTERNAL
}

// HTTPStatus is the HTTP status an error code stands for (the REST API's
// and the web pages'), 500 for an unknown code.
func HTTPStatus(code string) int {
	switch code {
	case EINVALID:
		return http.StatusBadRequest
	case EUNAUTHORIZED:
		return http.StatusUnauthorized
	case EFORBIDDEN:
		return http.StatusForbidden
	case ENOTFOUND:
		return http.StatusNotFound
	case ECONFLICT:
		return http.StatusConflict
	case EPRECONDITION:
		return http.StatusPreconditionFailed
	case EUNPROCESSABLE:
		return http.StatusUnprocessableEntity
	case ETOOMANY:
		return http.StatusTooManyRequests
	case ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	case EMETHOD:
		return http.StatusMethodNotAllowed
	case EUNSUPPORTED:
		return http.StatusUnsupportedMediaType
	case ENOTACCEPTABLE:
		return http.StatusNotAcceptable
	}
	return http.StatusInternalServerError
}

// Invalid collects field errors during validation.
type Invalid struct{ fields []FieldError }

// Add records a problem with field.
func (v *Invalid) Add(field, format string, args ...any) {
	v.fields = append(v.fields, FieldError{Field: field, Detail: fmt.Sprintf(format, args...)})
}

// Err returns nil when nothing was added, else an EINVALID error.
func (v *Invalid) Err() error { return v.ErrCode(EINVALID) }

// ErrCode is Err with another code (EUNPROCESSABLE for impossible requests).
func (v *Invalid) ErrCode(code string) error {
	if len(v.fields) == 0 {
		return nil
	}
	msg := "The request has invalid fields."
	if code == EUNPROCESSABLE {
		msg = "The request cannot be carried out."
	}
	return &Error{Code: code, Message: msg, Fields: v.fields}
}

// FieldErr is a one-field EINVALID error.
func FieldErr(field, format string, args ...any) error {
	var v Invalid
	v.Add(field, format, args...)
	return v.Err()
}
