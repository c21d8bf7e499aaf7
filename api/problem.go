package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/labspace/labspace"
)

// Problem is an RFC 9457 problem document; Errors names the fields at fault.
type Problem struct {
	Type   string                `json:"type"`
	Title  string                `json:"title"`
	Status int                   `json:"status"`
	Detail string                `json:"detail"`
	Errors []labspace.FieldError `json:"errors,omitempty"`
}

var codeStatus = map[string]int{
	labspace.EINVALID:       http.StatusBadRequest,
	labspace.EUNAUTHORIZED:  http.StatusUnauthorized,
	labspace.EFORBIDDEN:     http.StatusForbidden,
	labspace.ENOTFOUND:      http.StatusNotFound,
	labspace.ECONFLICT:      http.StatusConflict,
	labspace.EUNPROCESSABLE: http.StatusUnprocessableEntity,
	labspace.EINTERNAL:      http.StatusInternalServerError,
}

// writeError sends err as problem+json. Internal errors are logged and
// shown only as "Internal error.".
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	code := labspace.ErrorCode(err)
	status := codeStatus[code]
	p := Problem{Type: "https://labspace.dev/problems/" + code, Title: http.StatusText(status), Status: status}
	var e *labspace.Error
	if errors.As(err, &e) {
		p.Detail, p.Errors = e.Message, e.Fields
	} else {
		log.Error("internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		p.Detail = "Internal error."
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="labspace"`)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(p)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// maxBody bounds request bodies.
const maxBody = 1 << 20

// decode reads a JSON body strictly: unknown fields, wrong types, trailing
// data and oversized bodies are errors naming the field at fault.
func decode(r *http.Request, into any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return labspace.FieldErr("Content-Type", "must be application/json (got %q)", ct)
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody+1))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return labspace.FieldErr("body", "must hold one JSON object and nothing after it")
	}
	if _, err := dec.Token(); err != io.EOF {
		return labspace.FieldErr("body", "must hold one JSON object and nothing after it")
	}
	return nil
}

func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return labspace.FieldErr("body", "is not valid JSON (at byte %d: %v)", syn.Offset, syn)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "body"
		}
		return labspace.FieldErr(field, "must be %s, not a JSON %s", jsonType(typ.Type.Kind().String()), typ.Value)
	case errors.Is(err, io.EOF):
		return labspace.FieldErr("body", "is empty: send a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return labspace.FieldErr("body", "is truncated JSON, or larger than %d bytes", maxBody)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return labspace.FieldErr(name, "is not a known field")
	}
	return labspace.FieldErr("body", "cannot be read: %v", err)
}

func jsonType(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "slice", "array":
		return "an array"
	case "map", "struct":
		return "an object"
	case "float64", "float32":
		return "a number"
	}
	if strings.HasPrefix(goKind, "int") || strings.HasPrefix(goKind, "uint") {
		return "an integer"
	}
	return fmt.Sprintf("a %s", goKind)
}
