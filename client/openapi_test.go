package client_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/api"
	"github.com/labspace/labspace/client"
)

// call is one method of the client: how to call it, and the Go types it
// encodes (in) and decodes (out), checked against its signature.
type call struct {
	run     func(ctx context.Context, c *client.Client) error
	in, out reflect.Type
}

func typeOf[T any]() reflect.Type { return reflect.TypeOf((*T)(nil)).Elem() }

var calls = map[string]call{
	"Login": {run: func(ctx context.Context, c *client.Client) error { _, err := c.Login(ctx, "ada", "pw"); return err },
		out: typeOf[client.Token]()},
	"LoginCode": {run: func(ctx context.Context, c *client.Client) error {
		_, err := c.LoginCode(ctx, "code", "verifier", "http://127.0.0.1:1/cb")
		return err
	}, out: typeOf[client.Token]()},
	"Logout": {run: func(ctx context.Context, c *client.Client) error { return c.Logout(ctx) }},
	"WhoAmI": {run: func(ctx context.Context, c *client.Client) error { _, err := c.WhoAmI(ctx); return err },
		out: typeOf[client.Me]()},
	"Workspaces": {run: func(ctx context.Context, c *client.Client) error {
		_, err := c.Workspaces(ctx, client.ListOptions{Project: "cv", Phase: "Running", Creator: "ada", Search: "x",
			SortBy: "name", SortOrder: "desc", Limit: 5})
		return err
	}, out: typeOf[client.List[labspace.Workspace]]()},
	"Workspace": {run: func(ctx context.Context, c *client.Client) error { _, err := c.Workspace(ctx, "cv", "ws"); return err },
		out: typeOf[labspace.Workspace]()},
	"CreateWorkspace": {run: func(ctx context.Context, c *client.Client) error {
		_, err := c.CreateWorkspace(ctx, "cv", &labspace.WorkspaceCreate{Name: "ws", Template: "t"})
		return err
	}, in: typeOf[labspace.WorkspaceCreate](), out: typeOf[labspace.Workspace]()},
	"SetDesired": {run: func(ctx context.Context, c *client.Client) error {
		for _, a := range []string{"start", "stop", "delete"} {
			if _, err := c.SetDesired(ctx, "cv", "ws", a); err != nil {
				return err
			}
		}
		return nil
	}, out: typeOf[labspace.Workspace]()},
	"Events": {run: func(ctx context.Context, c *client.Client) error { _, err := c.Events(ctx, "cv", "ws"); return err },
		out: typeOf[client.List[labspace.Event]]()},
	"Logs": {run: func(ctx context.Context, c *client.Client) error {
		rc, err := c.Logs(ctx, "cv", "ws", true)
		if err == nil {
			rc.Close()
		}
		return err
	}},
	"RotateApplicationSecret": {run: func(ctx context.Context, c *client.Client) error {
		_, err := c.RotateApplicationSecret(ctx, "ci", "password-1")
		return err
	}, out: typeOf[client.SecretRotation]()},
	"WaitPhase": {run: func(ctx context.Context, c *client.Client) error {
		_, err := c.WaitPhase(ctx, "cv", "ws", labspace.PhaseRunning, time.Millisecond)
		return err
	}, out: typeOf[labspace.Workspace]()},
}

type sent struct {
	method, path, query string
	body                []byte
}

// TestClientMatchesDocument proves, for every method of the client, that
// the requests it sends are operations of the OpenAPI document (method,
// path, query parameters, body fields) and that the Go types it encodes
// and decodes have exactly the fields of the document's schemas.
func TestClientMatchesDocument(t *testing.T) {
	doc := api.New(nil, slog.New(slog.NewTextHandler(io.Discard, nil))).OpenAPI()
	ops := http.NewServeMux()
	for path := range doc["paths"].(map[string]any) {
		ops.HandleFunc(path, func(http.ResponseWriter, *http.Request) {})
	}
	var mu sync.Mutex
	var got []sent
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, sent{r.Method, r.URL.Path, r.URL.RawQuery, body})
		mu.Unlock()
		switch {
		case strings.HasSuffix(r.URL.Path, "/logs"):
			_, _ = io.WriteString(w, "hello\n")
		case r.Method == "GET" && (strings.HasSuffix(r.URL.Path, "/workspaces") || strings.HasSuffix(r.URL.Path, "/events")):
			_, _ = io.WriteString(w, `{"items":[]}`)
		default:
			_, _ = io.WriteString(w, `{"status":{"phase":"Running"}}`)
		}
	}))
	defer srv.Close()
	c := client.New(srv.URL, "token")

	ct := reflect.TypeOf(c)
	for i := 0; i < ct.NumMethod(); i++ {
		name := ct.Method(i).Name
		if _, ok := calls[name]; !ok && name != "Do" { // Do is the general call the others use
			t.Errorf("client method %s has no entry in calls: add one so its requests are checked", name)
		}
	}
	for name, cl := range calls {
		got = nil
		if err := cl.run(context.Background(), c); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		checkSignature(t, name, ct, cl)
		if len(got) == 0 {
			t.Errorf("%s sent no request", name)
		}
		for _, s := range got {
			checkRequest(t, name, doc, ops, s, cl)
		}
	}
}

// checkSignature ties the table to the method: its result is the out type
// (or the items of the page it reads), its parameters include the in type.
func checkSignature(t *testing.T, name string, ct reflect.Type, cl call) {
	m, _ := ct.MethodByName(name)
	if cl.out != nil {
		want := cl.out
		if f, ok := want.FieldByName("Items"); ok && strings.HasPrefix(want.Name(), "List[") {
			want = f.Type.Elem()
		}
		res := m.Type.Out(0)
		for res.Kind() == reflect.Pointer || res.Kind() == reflect.Slice {
			res = res.Elem()
		}
		if res != want {
			t.Errorf("%s returns %v, the table says %v", name, m.Type.Out(0), cl.out)
		}
	}
	if cl.in != nil {
		found := false
		for i := 0; i < m.Type.NumIn(); i++ {
			in := m.Type.In(i)
			for in.Kind() == reflect.Pointer {
				in = in.Elem()
			}
			found = found || in == cl.in
		}
		if !found {
			t.Errorf("%s takes no %v", name, cl.in)
		}
	}
}

func checkRequest(t *testing.T, name string, doc map[string]any, ops *http.ServeMux, s sent, cl call) {
	req, _ := http.NewRequest(s.method, "http://x"+s.path, nil)
	_, pattern := ops.Handler(req)
	item, ok := doc["paths"].(map[string]any)[pattern].(map[string]any)
	if !ok {
		t.Errorf("%s: %s %s is no path of the document", name, s.method, s.path)
		return
	}
	op, ok := item[strings.ToLower(s.method)].(map[string]any)
	if !ok {
		t.Errorf("%s: the document has no %s %s", name, s.method, pattern)
		return
	}
	params := map[string]bool{}
	ps, _ := op["parameters"].([]any)
	for _, p := range ps {
		params[p.(map[string]any)["name"].(string)] = true
	}
	for _, kv := range strings.Split(s.query, "&") {
		if k, _, _ := strings.Cut(kv, "="); k != "" && !params[k] {
			t.Errorf("%s: query parameter %s is not one of %s %s", name, k, s.method, pattern)
		}
	}
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	if len(s.body) > 0 {
		in := bodySchema(op["requestBody"], schemas)
		if in == nil {
			t.Errorf("%s: sends a body to %s %s, which takes none", name, s.method, pattern)
		} else {
			checkBody(t, name, s.body, in)
		}
		if cl.in != nil {
			for _, p := range compareType(cl.in, in, schemas, cl.in.Name(), map[string]bool{}) {
				t.Errorf("%s encodes %s", name, p)
			}
		}
	}
	if cl.out != nil {
		out := successSchema(op, schemas)
		for _, p := range compareType(cl.out, out, schemas, cl.out.Name(), map[string]bool{}) {
			t.Errorf("%s decodes %s", name, p)
		}
	}
}

// checkBody checks that a body's keys are fields of its schema, and that
// it has the required ones.
func checkBody(t *testing.T, name string, body []byte, schema map[string]any) {
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Errorf("%s: body is not a JSON object: %s", name, body)
		return
	}
	props, _ := schema["properties"].(map[string]any)
	for k := range m {
		if _, ok := props[k]; !ok {
			t.Errorf("%s: sends field %s, not in the document", name, k)
		}
	}
	req, _ := schema["required"].([]string)
	for _, k := range req {
		if _, ok := m[k]; !ok {
			t.Errorf("%s: does not send required field %s", name, k)
		}
	}
}

func bodySchema(rb any, schemas map[string]any) map[string]any {
	m, ok := rb.(map[string]any)
	if !ok {
		return nil
	}
	return resolve(m["content"].(map[string]any)["application/json"].(map[string]any)["schema"].(map[string]any), schemas)
}

func successSchema(op map[string]any, schemas map[string]any) map[string]any {
	for code, r := range op["responses"].(map[string]any) {
		if code[0] != '2' {
			continue
		}
		content, _ := r.(map[string]any)["content"].(map[string]any)
		if media, ok := content["application/json"].(map[string]any); ok {
			return resolve(media["schema"].(map[string]any), schemas)
		}
	}
	return nil
}

// resolve follows $ref and takes the non-null side of a nullable schema.
func resolve(s map[string]any, schemas map[string]any) map[string]any {
	for s != nil {
		if ref, ok := s["$ref"].(string); ok {
			s = schemas[strings.TrimPrefix(ref, "#/components/schemas/")].(map[string]any)
			continue
		}
		if alts, ok := s["anyOf"].([]any); ok {
			s = alts[0].(map[string]any)
			continue
		}
		return s
	}
	return nil
}

// compareType lists the differences between the JSON fields of Go type t
// and the properties of schema s, recursively.
func compareType(t reflect.Type, s map[string]any, schemas map[string]any, at string, seen map[string]bool) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	s = resolve(s, schemas)
	if s == nil || t == reflect.TypeOf(time.Time{}) {
		return nil
	}
	switch t.Kind() {
	case reflect.Slice:
		if items, ok := s["items"].(map[string]any); ok {
			return compareType(t.Elem(), items, schemas, at+"[]", seen)
		}
		return []string{at + ": an array, the document says otherwise"}
	case reflect.Map:
		if ap, ok := s["additionalProperties"].(map[string]any); ok {
			return compareType(t.Elem(), ap, schemas, at+"{}", seen)
		}
		return []string{at + ": a map, the document says otherwise"}
	case reflect.Struct:
	default:
		return nil
	}
	key := t.String() + "@" + at
	if seen[t.String()] || seen[key] {
		return nil
	}
	seen[t.String()] = true
	props, _ := s["properties"].(map[string]any)
	goFields := jsonFields(t)
	var out []string
	for _, n := range sortedKeys(goFields) {
		p, ok := props[n].(map[string]any)
		if !ok {
			out = append(out, at+"."+n+": not in the document")
			continue
		}
		out = append(out, compareType(goFields[n], p, schemas, at+"."+n, seen)...)
	}
	for _, n := range sortedKeys(props) {
		if _, ok := goFields[n]; !ok {
			out = append(out, at+"."+n+": in the document, not in the Go type")
		}
	}
	return out
}

// jsonFields maps a struct's JSON field names to their types, embedded structs flattened.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if tag == "-" || !f.IsExported() && !f.Anonymous {
			continue
		}
		if f.Anonymous && name == "" {
			for k, v := range jsonFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
