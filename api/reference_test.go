package api_test

import (
	"html"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestReferencePage checks that /api/docs lists every operation of the
// document (method, path, operationId and each status) and every schema.
func TestReferencePage(t *testing.T) {
	srv := newDocServer()
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest("GET", "/api/docs", nil))
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("GET /api/docs: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	page := rec.Body.String()
	if strings.Contains(page, `="http`) || strings.Contains(page, `="//`) || strings.Contains(page, "<script") {
		t.Error("the reference must load nothing from elsewhere and run no script")
	}
	css := httptest.NewRecorder()
	srv.ServeHTTP(css, httptest.NewRequest("GET", "/api/docs/reference.css", nil))
	if css.Code != 200 || !strings.HasPrefix(css.Header().Get("Content-Type"), "text/css") || !strings.Contains(page, "/api/docs/reference.css") {
		t.Errorf("the reference's stylesheet: %d %s", css.Code, css.Header().Get("Content-Type"))
	}
	doc := srv.OpenAPI()
	for path, item := range doc["paths"].(map[string]any) {
		for method, op := range item.(map[string]any) {
			op := op.(map[string]any)
			id := op["operationId"].(string)
			start := strings.Index(page, `id="op-`+id+`"`)
			if start < 0 {
				t.Errorf("%s %s (%s) is not on the page", method, path, id)
				continue
			}
			section := page[start:]
			if end := strings.Index(section, "</article>"); end > 0 {
				section = section[:end]
			}
			if !strings.Contains(html.UnescapeString(section), strings.ToUpper(method)+" "+path) {
				t.Errorf("%s: the page does not show %s %s", id, strings.ToUpper(method), path)
			}
			for status := range op["responses"].(map[string]any) {
				if !strings.Contains(section, `<th scope="row">`+status+`</th>`) {
					t.Errorf("%s: status %s is not listed", id, status)
				}
			}
		}
	}
	for name := range doc["components"].(map[string]any)["schemas"].(map[string]any) {
		if !strings.Contains(page, `id="schema-`+name+`"`) {
			t.Errorf("schema %s is not on the page", name)
		}
	}
}

// TestOpenAPINotAcceptable: the document is JSON only, and says so.
func TestOpenAPINotAcceptable(t *testing.T) {
	srv := newDocServer()
	for accept, want := range map[string]int{"": 200, "application/json": 200, "*/*": 200,
		"text/html, application/*;q=0.5": 200, "application/yaml": 406, "application/json;q=0": 406} {
		req := httptest.NewRequest("GET", "/api/v1/openapi.json", nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code != want {
			body, _ := io.ReadAll(rec.Body)
			t.Errorf("Accept %q: %d, want %d: %s", accept, rec.Code, want, body)
		}
		if want == 406 && rec.Header().Get("Content-Type") != "application/problem+json" {
			t.Errorf("Accept %q: a 406 is a problem document, got %s", accept, rec.Header().Get("Content-Type"))
		}
	}
}
