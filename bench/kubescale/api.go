package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/labspace/labspace/bench/benchkit"
	"github.com/labspace/labspace/bench/kubebench"
)

// createBlocks creates the global compute resource and environment, and
// the projects, each with a quota far above what its workspaces ask for
// (so that admission runs its checks but never refuses).
func createBlocks(api *benchkit.Client, projects, clients int) error {
	global := map[string]any{"type": "global"}
	if err := api.Do("POST", "/api/v1/compute-resources", map[string]any{"meta": map[string]any{"name": "tiny", "scope": global},
		"spec": map[string]any{"cpuRequest": "10m", "memoryRequest": "16Mi"}}, 201, nil); err != nil {
		return err
	}
	env := map[string]any{"meta": map[string]any{"name": "tool", "scope": global},
		"spec": map[string]any{"image": "local/tool", "command": []string{"serve"},
			"tools": []map[string]any{{"name": "web", "type": "custom", "port": 8000, "connection": "external-url"}}}}
	if err := api.Do("POST", "/api/v1/environments", env, 201, nil); err != nil {
		return err
	}
	return kubebench.Parallel(projects, clients, func(i int) error {
		return api.Do("POST", "/api/v1/projects", map[string]any{"meta": map[string]any{"name": projectName(i), "scope": global},
			"spec": map[string]any{"quota": map[string]any{"gpus": 0, "cpu": "1000", "memory": "4Ti"}}}, 201, nil)
	})
}

// createWorkspaces creates workspaces [from, to) spread over the projects,
// named so that each name is unique within its project.
func createWorkspaces(api *benchkit.Client, prefix string, from, to, projects, clients int, desired string) error {
	return kubebench.Parallel(to-from, clients, func(k int) error {
		i := from + k
		body := map[string]any{"name": prefix + strconv.Itoa(i), "environment": "tool", "compute": "tiny", "desiredPhase": desired}
		return api.Do("POST", "/api/v1/projects/"+projectName(i%projects)+"/workspaces", body, 201, nil)
	})
}

// countPhase lists every visible workspace in phase, as an admin would
// page through the API.
func countPhase(api *benchkit.Client, phase string) (int, error) {
	return kubebench.CountListed(api, "/api/v1/workspaces?phase="+phase)
}

// awaitPhase reads /metrics (kubebench.Every: each 5 s, each second near
// the end) until n workspaces are in phase by labspace_workspaces (one
// indexed count in the store: paging through
// 10,000 workspaces each second cost labspace a good part of a core, and
// more the more were Running), then confirms it by paging through the
// API once. each, when not nil, gets every reading; what it returns goes
// on the progress lines.
func awaitPhase(api *benchkit.Client, phase string, n int, each func(m kubebench.Samples) string) error {
	deadline := time.Now().Add(phaseLimit)
	said := time.Now()
	for {
		m, err := kubebench.Scrape(api)
		if err != nil {
			return err
		}
		got := int(m[`labspace_workspaces{phase="`+phase+`"}`])
		if got >= n {
			listed, err := countPhase(api, phase)
			if err != nil || listed >= n {
				return err
			}
			got = listed
		}
		extra := ""
		if each != nil {
			extra = each(m)
		}
		if time.Since(said) >= 10*time.Second {
			benchkit.Progress("labspace: %d of %d workspaces %s%s", got, n, phase, extra)
			said = time.Now()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d workspaces %s after %s", got, n, phase, phaseLimit)
		}
		time.Sleep(kubebench.Every(got, n, 5*time.Second, time.Second))
	}
}

// metric is the value of a metric in /metrics, summed over its labels.
func metric(api *benchkit.Client, name string) (float64, error) {
	m, err := kubebench.Scrape(api)
	if err != nil {
		return 0, err
	}
	v, ok := m[name]
	if !ok {
		return 0, fmt.Errorf("no %s in /metrics", name)
	}
	return v, nil
}

// latencies times n sequential requests of fn; it returns p50 and p99.
func latencies(n int, fn func() error) (p50, p99 time.Duration, err error) {
	ds := make([]time.Duration, n)
	for i := range ds {
		t0 := time.Now()
		if err := fn(); err != nil {
			return 0, 0, err
		}
		ds[i] = time.Since(t0)
	}
	slices.Sort(ds)
	return ds[n/2], ds[min(n-1, n*99/100)], nil
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// webSession signs in as admin through the web form, as a browser does:
// the form's CSRF token in a cookie and in the form, then the session cookie.
func webSession(base string) (*http.Client, error) {
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: time.Minute}
	res, err := hc.Get(base + "/login")
	if err != nil {
		return nil, err
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	m := csrfField.FindSubmatch(raw)
	if m == nil {
		return nil, fmt.Errorf("GET /login: %s, no csrf field", res.Status)
	}
	res, err = hc.PostForm(base+"/login", url.Values{"csrf": {string(m[1])}, "username": {"admin"},
		"password": {benchkit.AdminPassword}, "next": {"/"}})
	if err != nil {
		return nil, err
	}
	res.Body.Close()
	if u, _ := url.Parse(base); !slices.ContainsFunc(jar.Cookies(u), func(c *http.Cookie) bool { return c.Name == "labspace_session" }) {
		return nil, fmt.Errorf("POST /login: %s, no session cookie", res.Status)
	}
	return hc, nil
}

// getPage fetches path with hc, reading the whole body; it returns its size.
func getPage(hc *http.Client, u string) (int, error) {
	res, err := hc.Get(u)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	n, err := io.Copy(io.Discard, res.Body)
	if err == nil && res.StatusCode != 200 {
		err = fmt.Errorf("GET %s: %s", u, res.Status)
	}
	return int(n), err
}
