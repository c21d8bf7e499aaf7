package api_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestOpenAPILint lints the served document with @redocly/cli's recommended
// ruleset: no error and no warning may remain.
func TestOpenAPILint(t *testing.T) {
	bin, _ := filepath.Abs("../tools/npm/node_modules/.bin/redocly")
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("redocly is missing (%v): CI installs it with cd tools/npm && npm ci", err)
		}
		t.Skip("redocly is not installed: run cd tools/npm && npm ci")
	}
	raw, err := json.MarshalIndent(newDocServer().OpenAPI(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "openapi.json")
	if err := os.WriteFile(file, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "lint", "--extends", "recommended", "--format", "json", file)
	cmd.Env = append(os.Environ(), "REDOCLY_TELEMETRY=off", "REDOCLY_SUPPRESS_UPDATE_NOTICE=true")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, runErr := cmd.Output() // exits 1 on errors: the report still says which
	var report struct {
		Totals   struct{ Errors, Warnings int }
		Problems []struct {
			RuleID   string `json:"ruleId"`
			Severity string
			Message  string
			Location []struct{ Pointer string }
		}
	}
	if err := json.Unmarshal(out, &report); err != nil {
		t.Fatalf("redocly lint: %v, %v\n%s\n%s", runErr, err, out, stderr.Bytes())
	}
	for _, p := range report.Problems {
		where := ""
		if len(p.Location) > 0 {
			where = p.Location[0].Pointer
		}
		t.Errorf("%s %s: %s (%s)", p.Severity, p.RuleID, p.Message, where)
	}
	if runErr != nil && len(report.Problems) == 0 {
		t.Fatalf("redocly lint: %v\n%s", runErr, stderr.Bytes())
	}
	t.Logf("redocly lint --extends recommended: %d errors, %d warnings", report.Totals.Errors, report.Totals.Warnings)
}
