package store

import (
	"bytes"
	"encoding"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labspace/labspace"
)

// A stored document is json.Marshal of the object, so it already is what
// the API returns, but for the meta fields the columns hold (the
// resourceVersion above all: Update bumps the column, not the document).
// AppendJSON splices those in instead of decoding and re-encoding the
// whole object. That is only the same as decoding and re-encoding while
// the document was written by json.Marshal of today's Go type: a field
// added or removed since, or a document written by something else, would
// show through. Record.Format says which shape wrote the document, and
// only a document of today's shape takes the splice.

// formatVersion changes when the splice itself changes.
const formatVersion = "j1-"

var formats sync.Map // labspace.Kind -> string

// DocFormat names the JSON shape of kind k's Go type: a hash of its fields,
// their JSON names and types, all the way down. Encode stamps it on the
// records it builds; "" for an unknown kind.
func DocFormat(k labspace.Kind) string {
	if f, ok := formats.Load(k); ok {
		return f.(string)
	}
	obj := labspace.New(k)
	if obj == nil {
		return ""
	}
	h := fnv.New64a()
	writeShape(h, reflect.TypeOf(obj), map[reflect.Type]bool{})
	f := formatVersion + hex.EncodeToString(h.Sum(nil))
	formats.Store(k, f)
	return f
}

// docFormat is the Format Encode stamps on data: none when a string held
// invalid UTF-8, which json.Marshal writes as \ufffd, decoding reads as
// U+FFFD and json.Marshal then writes as that character: the one way found
// in which decoding and encoding again does not give the document back
// (TestAppendJSONMatchesDecodeAndMarshal tries every field of every kind).
// A string that merely holds a backslash before "ufffd" loses the stamp
// too, harmlessly.
func docFormat(k labspace.Kind, data []byte) string {
	if bytes.Contains(data, []byte(`\ufffd`)) {
		return ""
	}
	return DocFormat(k)
}

var (
	marshalerType     = reflect.TypeFor[json.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
)

// writeShape writes what json.Marshal's output for t depends on.
func writeShape(w interface{ Write([]byte) (int, error) }, t reflect.Type, seen map[reflect.Type]bool) {
	fmt.Fprintf(w, "(%s %s", t.PkgPath(), t.String())
	defer w.Write([]byte(")"))
	if seen[t] {
		return
	}
	seen[t] = true
	pt := reflect.PointerTo(t)
	if t.Implements(marshalerType) || pt.Implements(marshalerType) ||
		t.Implements(textMarshalerType) || pt.Implements(textMarshalerType) {
		w.Write([]byte(" marshaler")) // its own code decides: named above
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			fmt.Fprintf(w, " %s %t %q", f.Name, f.Anonymous, f.Tag.Get("json"))
			writeShape(w, f.Type, seen)
		}
	case reflect.Map:
		writeShape(w, t.Key(), seen)
		writeShape(w, t.Elem(), seen)
	case reflect.Array:
		fmt.Fprintf(w, " %d", t.Len())
		writeShape(w, t.Elem(), seen)
	case reflect.Pointer, reflect.Slice:
		writeShape(w, t.Elem(), seen)
	}
}

// AppendJSON appends the object r holds as the API shows it: exactly what
// json.Marshal gives for the object Decode makes of r.
func AppendJSON(b []byte, r *Record) ([]byte, error) {
	if r.Format != "" && r.Format == DocFormat(r.Kind) && spliceWorks {
		if out, ok := spliceMeta(b, r); ok {
			return out, nil
		}
	}
	obj := labspace.New(r.Kind)
	if obj == nil {
		return b, fmt.Errorf("unknown kind %q", r.Kind)
	}
	if err := Decode(r, obj); err != nil {
		return b, err
	}
	raw, err := json.Marshal(obj)
	return append(b, raw...), err
}

// spliceWorks is whether spliceMeta writes meta as json.Marshal does; were
// Meta to change without spliceMeta following, lists fall back to decoding.
var spliceWorks = checkSplice()

func checkSplice() bool {
	at := time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC)
	obj := &labspace.Environment{Meta: labspace.Meta{ID: "i", Name: "n", Description: `d "<&>"`,
		Scope: labspace.ProjectScope("p"), ResourceVersion: 7, CreatedAt: at, UpdatedAt: at.Add(1), CreatedBy: "u"}}
	r, err := Encode(obj)
	if err != nil {
		return false
	}
	want, err := json.Marshal(obj)
	got, ok := spliceMeta(nil, r)
	return err == nil && ok && bytes.Equal(got, want)
}

const metaKey = `{"meta":`

// spliceMeta appends r's document with its meta written from r's columns
// (the description, which has no column, is kept). ok is false, and b
// unchanged, when the document does not start with a meta object.
func spliceMeta(b []byte, r *Record) ([]byte, bool) {
	d := r.Data
	if !bytes.HasPrefix(d, []byte(metaKey)) {
		return b, false
	}
	desc, end, ok := scanMeta(d, len(metaKey))
	if !ok {
		return b, false
	}
	n := len(b)
	b = append(b, `{"meta":{"id":`...)
	b = appendString(b, r.ID)
	b = append(b, `,"name":`...)
	b = appendString(b, r.Name)
	if desc != nil {
		b = append(b, `,"description":`...)
		b = append(b, desc...)
	}
	b = append(b, `,"scope":{"type":`...)
	b = appendString(b, string(r.Scope.Type))
	if r.Scope.Name != "" {
		b = append(b, `,"name":`...)
		b = appendString(b, r.Scope.Name)
	}
	b = append(b, `},"resourceVersion":`...)
	b = strconv.AppendInt(b, r.RV, 10)
	b = append(b, `,"createdAt":`...)
	b, ok1 := appendTime(b, r.CreatedAt)
	b = append(b, `,"updatedAt":`...)
	b, ok2 := appendTime(b, r.UpdatedAt)
	b = append(b, `,"createdBy":`...)
	b = appendString(b, r.CreatedBy)
	b = append(b, '}')
	if !ok1 || !ok2 {
		return b[:n], false
	}
	return append(b, d[end:]...), true
}

// scanMeta reads the meta object starting at d[i]: the raw value of its
// description (nil when absent) and the index just past the object.
func scanMeta(d []byte, i int) (desc []byte, end int, ok bool) {
	if i >= len(d) || d[i] != '{' {
		return nil, 0, false
	}
	i++
	if i < len(d) && d[i] == '}' {
		return nil, i + 1, true
	}
	for i < len(d) {
		k := skipValue(d, i)
		if k < 0 || d[i] != '"' || k >= len(d) || d[k] != ':' {
			return nil, 0, false
		}
		v := skipValue(d, k+1)
		if v < 0 || v >= len(d) {
			return nil, 0, false
		}
		if string(d[i:k]) == `"description"` {
			desc = d[k+1 : v]
		}
		switch d[v] {
		case ',':
			i = v + 1
		case '}':
			return desc, v + 1, true
		default:
			return nil, 0, false
		}
	}
	return nil, 0, false
}

// skipValue returns the index just past the JSON value at d[i] (compact,
// valid JSON as json.Marshal writes it), or -1.
func skipValue(d []byte, i int) int {
	depth := 0
	for i < len(d) {
		switch c := d[i]; c {
		case '"':
			i++
			for i < len(d) && d[i] != '"' {
				if d[i] == '\\' {
					i++
				}
				i++
			}
			if i >= len(d) {
				return -1
			}
			i++
		case '{', '[':
			depth++
			i++
		case '}', ']':
			if depth == 0 {
				return i
			}
			depth--
			i++
		case ',', ':':
			if depth == 0 {
				return i
			}
			i++
		default:
			i++
		}
		if depth == 0 && i < len(d) && strings.IndexByte(",:}]", d[i]) >= 0 {
			return i
		}
	}
	if depth == 0 {
		return i
	}
	return -1
}

// appendString appends s as json.Marshal quotes it; plain ASCII, the names
// and ids of nearly every object, without a call into encoding/json.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			raw, _ := json.Marshal(s)
			return append(b, raw...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendTime appends t as time.Time's MarshalJSON does, for the UTC times
// the store reads; ok is false for any other.
func appendTime(b []byte, t time.Time) ([]byte, bool) {
	if t.Location() != time.UTC || t.Year() < 0 || t.Year() > 9999 {
		return b, false
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), true
}
