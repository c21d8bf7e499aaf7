package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/labspace/labspace/api"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// TestMain runs the package's tests, then checks every response they
// received against the OpenAPI document, and that every route was called
// with its documented success status at least once.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 && !testing.Short() && runAll() {
		if problems := checkConformance(); len(problems) > 0 {
			fmt.Fprintln(os.Stderr, "OpenAPI conformance failed:")
			for _, p := range problems {
				fmt.Fprintln(os.Stderr, "  "+p)
			}
			code = 1
		} else {
			fmt.Printf("OpenAPI conformance: %d responses checked\n", len(recorded))
		}
	}
	os.Exit(code)
}

// runAll reports whether the whole package ran (no -run filter), so that
// route coverage is meaningful.
func runAll() bool {
	for _, a := range os.Args {
		if strings.HasPrefix(a, "-test.run") {
			return false
		}
	}
	return true
}

func checkConformance() []string {
	srv := api.New(nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	doc := srv.OpenAPI()
	raw, _ := json.Marshal(doc)
	parsed, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return []string{err.Error()}
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("openapi.json", parsed); err != nil {
		return []string{err.Error()}
	}
	mux := http.NewServeMux()
	for _, r := range srv.Routes() {
		mux.HandleFunc(r, func(http.ResponseWriter, *http.Request) {})
	}
	paths := doc["paths"].(map[string]any)
	covered := map[string]bool{}
	var problems []string
	for _, ex := range recorded {
		req, _ := http.NewRequest(ex.method, ex.path, nil)
		_, pattern := mux.Handler(req)
		method, path, ok := strings.Cut(pattern, " ")
		if !ok {
			continue // a path outside the API, such as an unknown route
		}
		op := paths[path].(map[string]any)[strings.ToLower(method)].(map[string]any)
		status := strconv.Itoa(ex.status)
		resp, ok := op["responses"].(map[string]any)[status].(map[string]any)
		if !ok {
			problems = append(problems, fmt.Sprintf("%s %s: status %s is not documented", ex.method, ex.path, status))
			continue
		}
		content, _ := resp["content"].(map[string]any)
		if content == nil {
			if len(ex.raw) > 0 {
				problems = append(problems, fmt.Sprintf("%s %s: %s documents no body but got %q", ex.method, ex.path, status, ex.raw))
			}
			covered[pattern+" "+status] = true
			continue
		}
		ct, _, _ := strings.Cut(ex.contentType, ";")
		if _, ok := content[ct]; !ok {
			problems = append(problems, fmt.Sprintf("%s %s: content type %q not documented for %s", ex.method, ex.path, ct, status))
			continue
		}
		if ct == "text/plain" {
			covered[pattern+" "+status] = true
			continue
		}
		ptr := "openapi.json#/paths/" + strings.ReplaceAll(strings.ReplaceAll(path, "~", "~0"), "/", "~1") + "/" +
			strings.ToLower(method) + "/responses/" + status + "/content/" + strings.ReplaceAll(ct, "/", "~1") + "/schema"
		sch, err := c.Compile(ptr)
		if err != nil {
			problems = append(problems, fmt.Sprintf("compile %s: %v", ptr, err))
			continue
		}
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(ex.raw))
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s %s: body is not JSON: %v", ex.method, ex.path, err))
			continue
		}
		if err := sch.Validate(inst); err != nil {
			problems = append(problems, fmt.Sprintf("%s %s -> %s: %v", ex.method, ex.path, status, err))
			continue
		}
		covered[pattern+" "+status] = true
	}
	for path, item := range paths {
		for method, op := range item.(map[string]any) {
			for status := range op.(map[string]any)["responses"].(map[string]any) {
				if status[0] == '2' && !covered[strings.ToUpper(method)+" "+path+" "+status] {
					problems = append(problems, fmt.Sprintf("%s %s: no test received its %s response", strings.ToUpper(method), path, status))
				}
			}
		}
	}
	return problems
}
