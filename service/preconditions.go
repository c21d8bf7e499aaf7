package service

import (
	"context"
	"strconv"
	"strings"

	"github.com/labspace/labspace"
)

// Precondition is what a write expects of the object it changes: the HTTP
// API's If-Match. The zero value expects nothing.
type Precondition struct {
	// Any matches any existing object (If-Match: *).
	Any bool
	// Versions are the resourceVersions the caller accepts (one per
	// entity tag it sent).
	Versions []int64
	// Sent is the header as the caller sent it, for the answer.
	Sent string
}

// set reports whether p expects anything.
func (p Precondition) set() bool { return p.Any || len(p.Versions) > 0 }

// matches reports whether an object at resourceVersion rv meets p.
func (p Precondition) matches(rv int64) bool {
	if p.Any || !p.set() {
		return true
	}
	for _, v := range p.Versions {
		if v == rv {
			return true
		}
	}
	return false
}

type preconditionKey struct{}

// WithPrecondition returns ctx carrying p: the next write of one object
// (Update, Delete, a workspace's start, stop, delete or sharing, an
// application's secret rotation) happens only when the object meets it,
// and otherwise fails with EPRECONDITION. It is checked after the caller is
// found allowed, so that it never tells apart what the caller may not see.
func WithPrecondition(ctx context.Context, p Precondition) context.Context {
	if !p.set() {
		return ctx
	}
	return context.WithValue(ctx, preconditionKey{}, p)
}

func preconditionFrom(ctx context.Context) Precondition {
	p, _ := ctx.Value(preconditionKey{}).(Precondition)
	return p
}

// ETag is the entity tag of an object at resourceVersion rv: a strong
// validator, "rv" in quotes.
func ETag(rv int64) string { return `"` + strconv.FormatInt(rv, 10) + `"` }

// ParseIfMatch reads an If-Match header: "*", or a comma-separated list of
// entity tags. A weak tag (W/"3") never matches, as RFC 9110 compares
// If-Match strongly; a tag that is not one of ours matches nothing.
// Returns EINVALID naming the header when it is not a list of entity tags.
func ParseIfMatch(h string) (Precondition, error) {
	p := Precondition{Sent: h}
	h = strings.TrimSpace(h)
	if h == "" {
		return Precondition{}, nil
	}
	if h == "*" {
		p.Any = true
		return p, nil
	}
	bad := labspace.FieldErr("If-Match", `must be * or entity tags such as "7" (from the ETag of a read)`)
	if len(h) > 1024 {
		return Precondition{}, bad
	}
	for _, tag := range strings.Split(h, ",") {
		tag = strings.TrimSpace(tag)
		weak := strings.HasPrefix(tag, "W/")
		tag = strings.TrimPrefix(tag, "W/")
		if len(tag) < 2 || tag[0] != '"' || tag[len(tag)-1] != '"' || strings.ContainsAny(tag[1:len(tag)-1], `"`) {
			return Precondition{}, bad
		}
		rv, err := strconv.ParseInt(tag[1:len(tag)-1], 10, 64)
		if weak || err != nil || rv < 1 {
			p.Versions = append(p.Versions, -1) // a valid tag that names no version of ours
			continue
		}
		p.Versions = append(p.Versions, rv)
	}
	return p, nil
}

// precondition checks the caller's If-Match against the object's current
// resourceVersion. Call it only once the caller is known to be allowed the
// write, so that a 412 says nothing a 404 would hide.
func precondition(ctx context.Context, k labspace.Kind, name string, rv int64) error {
	p := preconditionFrom(ctx)
	if p.matches(rv) {
		return nil
	}
	return &labspace.Error{Code: labspace.EPRECONDITION,
		Message: title(k) + " " + strconv.Quote(name) + " has changed since you read it (its ETag is now " + ETag(rv) + "); read it again.",
		Fields:  []labspace.FieldError{{Field: "If-Match", Detail: "matches no current version (you sent " + clip(p.Sent) + ")"}}}
}

// expectedVersion is the resourceVersion an update is saved against: the
// one in the body, else, when an If-Match was met, the current one (the
// header stood for the body's version; * asks for no check).
func expectedVersion(ctx context.Context, body, current int64) int64 {
	if body == 0 && preconditionFrom(ctx).set() {
		return current
	}
	return body
}

// denied reports whether err refuses the caller outright (not found, not
// allowed), which goes before any precondition.
func denied(err error) bool {
	switch labspace.ErrorCode(err) {
	case labspace.ENOTFOUND, labspace.EFORBIDDEN, labspace.EUNAUTHORIZED:
		return true
	}
	return false
}
