package main

import (
	"io"
	"log/slog"
	"testing"

	"github.com/labspace/labspace/api"
)

// TestAssetPathsInDocument: the CLI reaches building blocks, projects and
// departments through client.Do with paths from assetKinds (the client's
// own methods are checked in client/openapi_test.go). Each path, with the
// list parameters the CLI sends, must be an operation of the document.
func TestAssetPathsInDocument(t *testing.T) {
	doc := api.New(nil, slog.New(slog.NewTextHandler(io.Discard, nil))).OpenAPI()
	paths := doc["paths"].(map[string]any)
	for _, k := range assetKinds {
		base := "/api/v1/" + k.path
		one := base + "/{id}"
		if k.byName {
			one = base + "/{name}"
		}
		for path, methods := range map[string][]string{base: {"get", "post"}, one: {"get", "put", "delete"}} {
			item, ok := paths[path].(map[string]any)
			if !ok {
				t.Errorf("%s: %s is no path of the document", k.use, path)
				continue
			}
			for _, m := range methods {
				if item[m] == nil {
					t.Errorf("%s: the document has no %s %s", k.use, m, path)
				}
			}
		}
		list, _ := paths[base].(map[string]any)["get"].(map[string]any)
		params := map[string]bool{}
		ps, _ := list["parameters"].([]any)
		for _, p := range ps {
			params[p.(map[string]any)["name"].(string)] = true
		}
		for _, q := range []string{"scope", "search", "continue"} { // what ListAll sends for the CLI
			if !params[q] {
				t.Errorf("%s: GET %s takes no %s parameter", k.use, base, q)
			}
		}
	}
}
