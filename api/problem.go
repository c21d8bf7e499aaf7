package api

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/labspace/labspace"
)

// Problem is an RFC 9457 problem document; Errors names the fields at fault.
type Problem struct {
	// A URI naming the kind of problem.
	Type string `json:"type"`
	// The HTTP status in words.
	Title string `json:"title"`
	// The HTTP status.
	Status int `json:"status"`
	// What went wrong, for people.
	Detail string `json:"detail"`
	// The fields at fault, for invalid input.
	Errors []labspace.FieldError `json:"errors,omitempty"`
}

// writeError sends err as problem+json. Internal errors are logged and
// shown only as "Internal error.".
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	code := labspace.ErrorCode(err)
	status := labspace.HTTPStatus(code)
	p := Problem{Type: "https://labspace.dev/problems/" + code, Title: http.StatusText(status), Status: status}
	var e *labspace.Error
	if errors.As(err, &e) {
		p.Detail, p.Errors = e.Message, e.Fields
		if e.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
		}
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
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return labspace.FieldErr("body", "cannot be read: %v", err)
	}
	if len(raw) > maxBody {
		// Read what follows (up to a bound) so that the client gets this
		// answer rather than a reset connection.
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, drainBody))
		return labspace.Errorf(labspace.ETOOLARGE, "The body is larger than %d KiB.", maxBody>>10)
	}
	if path, ok := duplicateKey(raw); ok {
		return labspace.FieldErr(path, "is given twice")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			// The decoder names only the key; find where it sits.
			name = strings.Trim(name, `"`)
			if name == "" { // name the object that holds the empty key
				path := strings.TrimSuffix(unknownPath(raw, reflect.TypeOf(into), name), ".")
				return labspace.FieldErr(cmp.Or(path, "body"), "has a field with an empty name")
			}
			return labspace.FieldErr(unknownPath(raw, reflect.TypeOf(into), name), "is not a known field")
		}
		return jsonError(err, reflect.TypeOf(into))
	}
	if dec.More() {
		return labspace.FieldErr("body", "must hold one JSON object and nothing after it")
	}
	if _, err := dec.Token(); err != io.EOF {
		return labspace.FieldErr("body", "must hold one JSON object and nothing after it")
	}
	return nil
}

func jsonError(err error, into reflect.Type) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return labspace.FieldErr("body", "is not valid JSON (at byte %d: %v)", syn.Offset, syn)
	case errors.As(err, &typ):
		field := typePath(into, typ.Field)
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

// typePath turns the path of a type error into a JSON path: the decoder
// names embedded structs by their Go type ("User.meta.name" for a body
// that embeds labspace.User), which is no part of the JSON.
func typePath(t reflect.Type, field string) string {
	if field == "" {
		return ""
	}
	var out []string
	for _, seg := range strings.Split(field, ".") {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() == reflect.Struct {
			if f, ok := t.FieldByName(seg); ok && f.Anonymous && f.Tag.Get("json") == "" {
				t = f.Type
				continue
			}
			if ft, ok := jsonField(t, seg); ok {
				t = ft
			}
		}
		out = append(out, seg)
	}
	return strings.Join(out, ".")
}

// unknownPath returns the JSON path of the unknown key name in raw, read
// against t ("spec.runAs.bogus", "dataSources[0].bogus"); name itself when
// it cannot be found.
func unknownPath(raw []byte, t reflect.Type, name string) string {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return name
	}
	if p := findUnknown(v, t, "", name); p != "" {
		return p
	}
	return name
}

func findUnknown(v any, t reflect.Type, path, name string) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := k
			if path != "" {
				p = path + "." + k
			}
			switch t.Kind() {
			case reflect.Struct:
				ft, ok := jsonField(t, k)
				if !ok && k == name {
					return p
				}
				if ok {
					if found := findUnknown(x[k], ft, p, name); found != "" {
						return found
					}
				}
			case reflect.Map:
				if found := findUnknown(x[k], t.Elem(), p, name); found != "" {
					return found
				}
			}
		}
	case []any:
		if t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
			for i, e := range x {
				if found := findUnknown(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i), name); found != "" {
					return found
				}
			}
		}
	}
	return ""
}

// jsonField returns the type of the field of struct t that key decodes
// into, matched as encoding/json does: promoted fields of embedded structs
// included, an exact name first, else one equal under case folding.
func jsonField(t reflect.Type, key string) (reflect.Type, bool) {
	var folded reflect.Type
	var walk func(t reflect.Type) reflect.Type
	walk = func(t reflect.Type) reflect.Type {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			n, _, _ := strings.Cut(tag, ",")
			if ft := f.Type; f.Anonymous && n == "" {
				for ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if ft.Kind() == reflect.Struct {
					if r := walk(ft); r != nil {
						return r
					}
					continue
				}
			}
			if !f.IsExported() {
				continue
			}
			if n == "" {
				n = f.Name
			}
			if n == key {
				return f.Type
			}
			if folded == nil && strings.EqualFold(n, key) {
				folded = f.Type
			}
		}
		return nil
	}
	if r := walk(t); r != nil {
		return r, true
	}
	return folded, folded != nil
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

// drainBody bounds what is read of a body over the limit before answering.
const drainBody = 64 << 20

// jsonLevel is an object or array being read by duplicateKey.
type jsonLevel struct {
	keys    map[string]bool // nil for an array
	path    string
	key     string // the key whose value comes next
	wantKey bool
	index   int
}

// duplicateKey finds a key given twice in one JSON object (Go's decoder
// keeps the last one; a client meant one of them), and its path.
func duplicateKey(raw []byte) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	var stack []*jsonLevel
	join := func(path, key string) string {
		if path == "" {
			return key
		}
		return path + "." + key
	}
	// value is the path of the value that comes next, and moves past it.
	value := func() string {
		if len(stack) == 0 {
			return ""
		}
		l := stack[len(stack)-1]
		if l.keys == nil {
			l.index++
			return l.path + "[" + strconv.Itoa(l.index-1) + "]"
		}
		l.wantKey = true
		return join(l.path, l.key)
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", false // the end, or invalid JSON, which decoding reports
		}
		if len(stack) > 0 {
			if l := stack[len(stack)-1]; l.keys != nil && l.wantKey {
				if d, ok := tok.(json.Delim); ok && d == '}' {
					stack = stack[:len(stack)-1]
					continue
				}
				key, _ := tok.(string)
				if l.keys[key] {
					return join(l.path, key), true
				}
				l.keys[key], l.key, l.wantKey = true, key, false
				continue
			}
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			l := &jsonLevel{path: value(), wantKey: tok == json.Delim('{')}
			if tok == json.Delim('{') {
				l.keys = map[string]bool{}
			}
			stack = append(stack, l)
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
		default:
			value()
		}
	}
}
