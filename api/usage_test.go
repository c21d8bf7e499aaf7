package api_test

import "testing"

// A project's usage (quota, holdings and the chart's points) is for those
// who see the project: another project's member gets 404, as for the
// project itself.
func TestProjectUsage(t *testing.T) {
	e := newEnv(t)
	e.project("cv", "")
	e.project("nlp", "")
	alice := e.user("alice")
	e.grant("user", "alice", "l1-researcher", "project/cv")
	r := e.must(200, "GET", "/api/v1/projects/cv/usage", alice, nil)
	if q, _ := r.body["quota"].(map[string]any); q["gpus"] != 8.0 || r.body["gpus"] != 0.0 || r.body["project"] != "cv" {
		t.Errorf("usage of cv: %s", r.raw)
	}
	if r := e.do("GET", "/api/v1/projects/nlp/usage", alice, nil); r.status != 404 {
		t.Errorf("another project's usage: %d %s", r.status, r.raw)
	}
}
