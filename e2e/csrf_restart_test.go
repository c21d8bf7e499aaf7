package e2e

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// A form opened before labspace restarts still posts after it: CSRF tokens
// are signed with a key derived from the secret key, not one per process.
func TestFormsSurviveARestart(t *testing.T) {
	addr, dir := freeAddr(t), t.TempDir()
	s := startServer(t, addr, dir)
	var tok struct{ AccessToken string }
	s.must(200, "POST", "/api/v1/token", "", map[string]any{"username": "admin", "password": adminPassword}, &tok)
	session := "labspace_session=" + tok.AccessToken
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
	req.Header.Set("Cookie", session)
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF field on the grid page (%d): %.300s", res.StatusCode, page)
	}

	s.kill()
	s = startServer(t, addr, dir)
	post := func(csrf string) int {
		req, _ := http.NewRequest("POST", "http://"+addr+"/logout", strings.NewReader(url.Values{"csrf": {csrf}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Cookie", session)
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if code := post("forged" + string(m[1])); code != http.StatusForbidden {
		t.Errorf("a forged CSRF token: %d, want 403", code)
	}
	if code := post(string(m[1])); code != http.StatusSeeOther {
		t.Errorf("sign out with the form from before the restart: %d, want 303", code)
	}
}
