package runtime_test

import (
	"reflect"
	"testing"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/runtime"
)

func TestExpand(t *testing.T) {
	vars := map[string]string{
		"A":     "alpha",
		"B":     "beta",
		"EMPTY": "",
		"REF":   "$(A)",   // a value that looks like a reference
		"DOLL":  "x$$y",   // a value with an escape in it
		"OPEN":  "$(",     // a value that opens a reference
		"SP A":  "spaced", // names are whatever stands between the parentheses
	}
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"no reference", "plain text", "plain text"},
		{"whole string", "$(A)", "alpha"},
		{"inside text", "pre-$(A)-post", "pre-alpha-post"},
		{"adjacent references", "$(A)$(B)", "alphabeta"},
		{"adjacent with text", "$(A)/$(B)/$(A)", "alpha/beta/alpha"},
		{"defined as empty", "[$(EMPTY)]", "[]"},
		{"undefined left as written", "$(NOPE)", "$(NOPE)"},
		{"undefined beside defined", "$(NOPE)$(A)", "$(NOPE)alpha"},
		{"empty name left as written", "$()", "$()"},
		{"escaped dollar", "$$", "$"},
		{"escaped reference", "$$(A)", "$(A)"},
		{"escape then reference", "$$$(A)", "$alpha"},
		{"two escapes", "$$$$", "$$"},
		{"dollar at end", "cost $", "cost $"},
		{"lone dollar", "$", "$"},
		{"dollar before a letter", "$HOME and $1", "$HOME and $1"},
		{"shell braces untouched", "${A}", "${A}"},
		{"unterminated", "$(A", "$(A"},
		{"unterminated at end", "x$(", "x$("},
		{"unterminated after a reference", "$(A) $(B", "alpha $(B"},
		// Kubernetes writes "$(" and goes on reading: a later $$ is still an escape.
		{"escape after unterminated", "$(A $$", "$(A $"},
		{"closer without opener", "A)", "A)"},
		{"name ends at first closer", "$(A))", "alpha)"},
		{"value with reference not re-expanded", "$(REF)", "$(A)"},
		{"value with escape not unescaped", "$(DOLL)", "x$$y"},
		{"value opening a reference not joined", "$(OPEN)A)", "$(A)"},
		{"name with space", "$(SP A)", "spaced"},
		{"multibyte text kept", "é$(A)ß", "éalphaß"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := runtime.Expand(tt.in, vars); got != tt.want {
				t.Errorf("Expand(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestExpandNilVars(t *testing.T) {
	if got := runtime.Expand("$(A) $$ $", nil); got != "$(A) $ $" {
		t.Errorf("Expand with nil vars = %q", got)
	}
}

func TestEnvKey(t *testing.T) {
	tests := map[string]string{
		"jupyter":    "JUPYTER",
		"my-tool.v2": "MY_TOOL_V2",
		"MixedCase9": "MIXEDCASE9",
		"a_b":        "A_B",
		"tool name":  "TOOL_NAME",
		"":           "",
		"é":          "_", // one rune, one '_'
	}
	for in, want := range tests {
		if got := runtime.EnvKey(in); got != want {
			t.Errorf("EnvKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func workspace(tools ...labspace.Tool) *labspace.Workspace {
	w := &labspace.Workspace{Meta: labspace.Meta{ID: "id-1", Name: "ws", Scope: labspace.ProjectScope("proj")}}
	w.Spec.Environment.Spec.Tools = tools
	return w
}

func TestBasePath(t *testing.T) {
	if got := runtime.BasePath(workspace(), "my-tool"); got != "/ws/proj/ws/my-tool/" {
		t.Errorf("BasePath = %q", got)
	}
}

func TestToolVars(t *testing.T) {
	ext := labspace.Tool{Name: "docs", Type: "external", URL: "https://example.com"}
	nb := labspace.Tool{Name: "notebook", Type: "jupyter-notebook", Port: 8888}
	tb := labspace.Tool{Name: "tensor-board.v2", Type: "tensorboard", Port: 6006}
	tests := []struct {
		name  string
		tools []labspace.Tool
		ports map[string]int
		want  map[string]string
	}{
		{"no tools", nil, nil, map[string]string{}},
		{"tools without ports", []labspace.Tool{nb, tb}, nil, map[string]string{}},
		{"one tool", []labspace.Tool{nb}, map[string]int{"notebook": 41000}, map[string]string{
			"LABSPACE_PORT_NOTEBOOK":     "41000",
			"LABSPACE_BASE_URL_NOTEBOOK": "/ws/proj/ws/notebook/",
			"PORT":                       "41000",
			"BASE_URL":                   "/ws/proj/ws/notebook/",
		}},
		{"first listening tool in spec order gets PORT", []labspace.Tool{ext, tb, nb},
			map[string]int{"notebook": 41000, "tensor-board.v2": 41001}, map[string]string{
				"LABSPACE_PORT_NOTEBOOK":            "41000",
				"LABSPACE_BASE_URL_NOTEBOOK":        "/ws/proj/ws/notebook/",
				"LABSPACE_PORT_TENSOR_BOARD_V2":     "41001",
				"LABSPACE_BASE_URL_TENSOR_BOARD_V2": "/ws/proj/ws/tensor-board.v2/",
				"PORT":                              "41001",
				"BASE_URL":                          "/ws/proj/ws/tensor-board.v2/",
			}},
		{"external tool only", []labspace.Tool{ext}, map[string]int{}, map[string]string{}},
		{"ports of unknown tools ignored", []labspace.Tool{nb}, map[string]int{"notebook": 1, "other": 2}, map[string]string{
			"LABSPACE_PORT_NOTEBOOK":     "1",
			"LABSPACE_BASE_URL_NOTEBOOK": "/ws/proj/ws/notebook/",
			"PORT":                       "1",
			"BASE_URL":                   "/ws/proj/ws/notebook/",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runtime.ToolVars(workspace(tt.tools...), tt.ports)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ToolVars =\n%v\nwant\n%v", got, tt.want)
			}
		})
	}
}

func TestWorkloadVars(t *testing.T) {
	w := workspace(
		labspace.Tool{Name: "site", Type: "external", URL: "https://example.com"},
		labspace.Tool{Name: "web", Type: "custom", Port: 8000},
	)
	w.Spec.Env = []labspace.EnvVar{
		{Name: "PLAIN", Value: "value"},
		{Name: "URL", Value: "http://localhost:$(PORT)$(BASE_URL)"},
		{Name: "WEB", Value: "$(LABSPACE_PORT_WEB)"},
		{Name: "FROM_EARLIER", Value: "$(PLAIN)-2"},
		{Name: "FROM_LATER", Value: "$(LATER)"}, // defined below: left as written
		{Name: "LATER", Value: "late"},
		{Name: "ESCAPED", Value: "$$(PORT)"},
		{Name: "UNDEFINED", Value: "$(NOT_SET)"},
		{Name: "RE", Value: "$(ESCAPED)"}, // the expanded value is not expanded again
		{Name: "SECRET", Credential: &labspace.SecretRef{Name: "cred", Key: "token", ID: "c1"}},
	}
	got := runtime.WorkloadVars(w, map[string]int{"web": 40123})
	want := map[string]string{
		"LABSPACE_PORT_WEB":     "40123",
		"LABSPACE_BASE_URL_WEB": "/ws/proj/ws/web/",
		"PORT":                  "40123",
		"BASE_URL":              "/ws/proj/ws/web/",
		"PLAIN":                 "value",
		"URL":                   "http://localhost:40123/ws/proj/ws/web/",
		"WEB":                   "40123",
		"FROM_EARLIER":          "value-2",
		"FROM_LATER":            "$(LATER)",
		"LATER":                 "late",
		"ESCAPED":               "$(PORT)",
		"UNDEFINED":             "$(NOT_SET)",
		"RE":                    "$(PORT)",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("WorkloadVars =\n%v\nwant\n%v", got, want)
	}
	if _, ok := got["SECRET"]; ok {
		t.Error("a credential-backed variable is resolved by the runtime, not by WorkloadVars")
	}
}

func TestWorkloadVarsEnvOverridesToolVar(t *testing.T) {
	w := workspace(labspace.Tool{Name: "web", Type: "custom", Port: 8000})
	w.Spec.Env = []labspace.EnvVar{{Name: "PORT", Value: "9999"}, {Name: "P", Value: "$(PORT)"}}
	got := runtime.WorkloadVars(w, map[string]int{"web": 40123})
	if got["PORT"] != "9999" || got["P"] != "9999" || got["LABSPACE_PORT_WEB"] != "40123" {
		t.Errorf("WorkloadVars = %v", got)
	}
}

func TestWorkloadVarsWithoutPorts(t *testing.T) {
	// The controller computes external tool URLs with no ports at all.
	w := workspace(labspace.Tool{Name: "web", Type: "custom", Port: 8000})
	w.Spec.Env = []labspace.EnvVar{{Name: "X", Value: "$(PORT)"}}
	got := runtime.WorkloadVars(w, nil)
	if want := map[string]string{"X": "$(PORT)"}; !reflect.DeepEqual(got, want) {
		t.Errorf("WorkloadVars = %v, want %v", got, want)
	}
}
