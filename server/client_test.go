package server

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// Behind a trusted proxy the client is the right-most forwarded address
// that is not a proxy; anyone else's X-Forwarded-For is ignored.
func TestClientAddressBehindProxies(t *testing.T) {
	trusted, err := ParseProxies([]string{"10.0.0.0/8", "192.168.1.7"})
	if err != nil {
		t.Fatal(err)
	}
	var seen string
	h := fromProxies(trusted, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r.RemoteAddr }))
	for _, tc := range []struct{ remote, xff, want string }{
		{"10.1.2.3:5000", "203.0.113.9", "203.0.113.9:0"},
		{"10.1.2.3:5000", "198.51.100.1, 203.0.113.9, 10.0.0.5", "203.0.113.9:0"}, // the client can prepend what it likes
		{"192.168.1.7:80", "203.0.113.9", "203.0.113.9:0"},
		{"203.0.113.50:4000", "1.1.1.1", "203.0.113.50:4000"}, // not a proxy: its header is its own
		{"10.1.2.3:5000", "", "10.1.2.3:5000"},
		{"10.1.2.3:5000", "unknown", "10.1.2.3:5000"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.remote
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		h.ServeHTTP(httptest.NewRecorder(), r)
		if seen != tc.want {
			t.Errorf("from %s with %q: client %s, want %s", tc.remote, tc.xff, seen, tc.want)
		}
	}
	if _, err := ParseProxies([]string{"not-an-address"}); err == nil {
		t.Error("a bad --trusted-proxy is accepted")
	}
}
