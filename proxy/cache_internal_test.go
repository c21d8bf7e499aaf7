package proxy

import (
	"log/slog"
	"net/http"
	"strconv"
	"testing"
)

// One reverse proxy per tool: a new start's address replaces the old one,
// and a workspace seen stopped has none left (they piled up, one per start).
func TestReverseProxiesDoNotPileUp(t *testing.T) {
	p := &Proxy{proxies: map[string]toolProxy{}, log: slog.Default(), transport: http.DefaultTransport}
	for port := 20000; port < 20010; port++ {
		p.reverse("http://127.0.0.1:"+itoa(port), "/ws/p/w/web/", false, "ws-1")
		p.reverse("http://127.0.0.1:"+itoa(port+100), "/ws/p/w/docs/", false, "ws-1")
	}
	p.reverse("http://127.0.0.1:30000", "/ws/p/v/web/", false, "ws-2")
	if len(p.proxies) != 3 {
		t.Errorf("%d reverse proxies after ten starts of a two-tool workspace and one of another, want 3", len(p.proxies))
	}
	if tp := p.proxies["ws-1 /ws/p/w/web/"]; tp.target != "http://127.0.0.1:20009" {
		t.Errorf("web's proxy goes to %s, want the latest address", tp.target)
	}
	p.drop("ws-1")
	if len(p.proxies) != 1 {
		t.Errorf("%d reverse proxies after ws-1 stopped, want ws-2's only", len(p.proxies))
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
