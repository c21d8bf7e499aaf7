package proxy

import (
	"log/slog"
	"net"
	"net/http"
	"testing"
)

// A WebSocket's frames are noted as activity through the touching
// wrapper, which a proxy without activity tracking does not put on.
func TestWebSocketTouchingFollowsTracking(t *testing.T) {
	for _, off := range []bool{false, true} {
		p := &Proxy{proxies: map[string]toolProxy{}, log: slog.Default(), transport: http.DefaultTransport,
			opts: Options{NoActivityTracking: off}}
		rp := p.reverse("http://127.0.0.1:20000", "/ws/p/w/web/", false, "ws-1")
		a, b := net.Pipe()
		res := &http.Response{StatusCode: http.StatusSwitchingProtocols, Header: http.Header{}, Body: a}
		if err := rp.ModifyResponse(res); err != nil {
			t.Fatal(err)
		}
		if _, wrapped := res.Body.(*touching); wrapped == off {
			t.Errorf("NoActivityTracking %v: the upgraded connection wrapped to note activity: %v", off, wrapped)
		}
		a.Close()
		b.Close()
	}
}
