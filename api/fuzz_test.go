package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/api"
	"github.com/labspace/labspace/secret"
	"github.com/labspace/labspace/service"
	"github.com/labspace/labspace/store/sqlstore"
)

// FuzzWorkspaceCreate sends arbitrary bytes as the body of a workspace
// creation. Whatever they are, the server does not panic or answer 5xx;
// every 4xx is a problem document with a detail; a body that does not
// decode strictly or does not validate gets 400; and a 201 means the body
// was valid and the workspace can be read back.
//
// The API runs in process over a service without a lifecycle, so that no
// workspace the fuzzer creates is ever started.
func FuzzWorkspaceCreate(f *testing.F) {
	h, token := fuzzServer(f)
	for _, seed := range []string{
		`{"name":"a","environment":"notebook","compute":"one-gpu","env":{"WANDB_KEY":"k"}}`,
		`{"name":"b","template":"train","env":{"WANDB_KEY":"k"},"desiredPhase":"Stopped"}`,
		`{"name":"c","environment":"notebook","compute":"one-gpu","env":{"WANDB_KEY":"k","X":"y"},"dataSources":[{"name":"data","mountPath":"/mnt"}],` +
			`"command":["sh"],"args":["-c","true"],"preemptible":true,"nodePool":"pool-a","labels":{"example.com/team":"cv"},"annotations":{"a":"b"},"description":"d"}`,
		`{"name":"d","environment":"env-y","compute":"one-gpu","env":{"WANDB_KEY":"k"}}`,
		`{"name":"e","environment":"notebook","compute":"one-gpu"}`,
		`{"name":"Bad_Name","environment":"notebook","compute":"one-gpu"}`,
		`{"name":"f","environment":"notebook","compute":"one-gpu","env":{"WANDB_KEY":5}}`,
		`{"name":"g","template":"train","dataSources":{}}`,
		`{"name":"h","template":"train","bogus":1,"env":{"WANDB_KEY":"k"}}`,
		`{"name":"i","template":"train","desiredPhase":"Paused"}`,
		`{"meta":`, `{}`, `[]`, `null`, `"x"`, `{} {}`, ``, `{"name":"` + strings.Repeat("a", 64) + `"}`,
		`{"name":"j","environment":"notebook","compute":"one-gpu","env":{"WANDB_KEY":"\u0000\ud800"}}`,
		`{"":""}`, `{"dataSources":[{"":1}]}`, // found by the fuzzer: an empty key was named as field ""
		`{"name":"k","template":"train","gpuDevices":2,"env":{"WANDB_KEY":"k"}}`,
		`{"name":"l","environment":"notebook","compute":"half-gpu","gpuDevices":2,"env":{"WANDB_KEY":"k"}}`,
		`{"name":"m","template":"train","gpuDevices":-1}`,
	} {
		f.Add([]byte(seed))
	}
	fuzzing := flag.Lookup("test.fuzz") != nil && flag.Lookup("test.fuzz").Value.String() != ""
	f.Fuzz(func(t *testing.T, body []byte) {
		status, ct, raw := fuzzDo(h, "POST", "/api/v1/projects/fz/workspaces", token, body, !fuzzing)
		var req labspace.WorkspaceCreate
		valid := strictDecode(body, &req) == nil
		if valid {
			var v labspace.Invalid
			req.Validate(&v)
			valid = v.Err() == nil
		}
		switch {
		case status == 201:
			if !valid {
				t.Fatalf("201 for a body that does not decode strictly or validate: %q", body)
			}
			st, _, got := fuzzDo(h, "GET", "/api/v1/projects/fz/workspaces/"+req.Name, token, nil, !fuzzing)
			var w labspace.Workspace
			if st != 200 || json.Unmarshal(got, &w) != nil || w.Name != req.Name || w.Project() != "fz" {
				t.Fatalf("created %q but reading it back: %d %s", req.Name, st, got)
			}
		case status == 400 || status == 409 || status == 422:
			var p api.Problem
			if ct != "application/problem+json" || json.Unmarshal(raw, &p) != nil || p.Detail == "" || p.Status != status {
				t.Fatalf("%d is not a problem document with a detail (%s): %s", status, ct, raw)
			}
			if status != 409 && len(p.Errors) == 0 {
				t.Fatalf("%d names no field: %s", status, raw)
			}
			for _, fe := range p.Errors {
				if fe.Field == "" || fe.Detail == "" {
					t.Fatalf("a field error without field or detail: %s", raw)
				}
			}
			if !valid && status != 400 {
				t.Fatalf("%d for a body that does not decode strictly or validate, want 400: %q: %s", status, body, raw)
			}
		default:
			t.Fatalf("status %d for %q: %s", status, body, raw)
		}
	})
}

// strictDecode decodes as the API does: one JSON value, no unknown fields.
func strictDecode(body []byte, into any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return io.ErrUnexpectedEOF
	}
	return nil
}

// fuzzServer is the API over a service with no lifecycle, signed in as
// admin, with project fz, its building blocks, and project fy with an
// environment fz may not use.
func fuzzServer(f *testing.F) (http.Handler, string) {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := sqlstore.OpenSQLite(ctx, filepath.Join(f.TempDir(), "labspace.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	box, err := secret.NewBox(make([]byte, secret.KeySize))
	if err != nil {
		f.Fatal(err)
	}
	svc := service.New(service.Options{Store: db, Box: box, BcryptCost: 4, Logger: log})
	if _, err := svc.EnsureAdmin(ctx, adminPassword); err != nil {
		f.Fatal(err)
	}
	h := api.New(svc, log)
	mustDo := func(want int, method, path, token string, body any) []byte {
		raw, _ := json.Marshal(body)
		status, _, out := fuzzDo(h, method, path, token, raw, false)
		if status != want {
			f.Fatalf("%s %s: %d, want %d: %s", method, path, status, want, out)
		}
		return out
	}
	var tok struct{ AccessToken string }
	_ = json.Unmarshal(mustDo(200, "POST", "/api/v1/token", "", map[string]any{"username": "admin", "password": adminPassword}), &tok)
	token := tok.AccessToken
	for _, p := range []string{"fz", "fy"} {
		mustDo(201, "POST", "/api/v1/projects", token, obj(p, "global", map[string]any{"quota": map[string]any{"gpus": 8}}))
	}
	mustDo(201, "POST", "/api/v1/environments", token, obj("notebook", "global", map[string]any{"image": "quay.io/jupyter/base-notebook",
		"env": []any{map[string]any{"name": "WANDB_KEY", "fromUser": true}}}))
	mustDo(201, "POST", "/api/v1/environments", token, obj("env-y", "project/fy", map[string]any{"image": "python:3.12"}))
	mustDo(201, "POST", "/api/v1/compute-resources", token, obj("one-gpu", "global", map[string]any{"gpuDevices": 1, "cpuRequest": "2"}))
	mustDo(201, "POST", "/api/v1/compute-resources", token, obj("half-gpu", "project/fz", map[string]any{"gpuDevices": 1,
		"gpuPortion": map[string]any{"percent": 50}}))
	mustDo(201, "POST", "/api/v1/data-sources", token, obj("data", "project/fz", map[string]any{"type": "nfs", "mountPath": "/data",
		"nfs": map[string]any{"server": "nfs.local", "path": "/x"}}))
	mustDo(201, "POST", "/api/v1/templates", token, obj("train", "project/fz", map[string]any{"environment": "notebook", "compute": "one-gpu",
		"dataSources": []any{map[string]any{"name": "data"}}}))
	return h, token
}

// fuzzDo serves one request in process; rec records it for the OpenAPI
// conformance check (not while fuzzing, which would only pile them up).
func fuzzDo(h http.Handler, method, path, token string, body []byte, rec bool) (int, string, []byte) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	ct := w.Header().Get("Content-Type")
	if rec {
		record(req, &response{status: w.Code, header: w.Header(), raw: w.Body.Bytes()})
	}
	return w.Code, ct, w.Body.Bytes()
}
