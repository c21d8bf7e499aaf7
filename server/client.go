package server

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// fromProxies makes r.RemoteAddr the client's own address when the request
// comes through one of the trusted reverse proxies: the right-most address
// of X-Forwarded-For that is not itself a trusted proxy. The audit log and
// the sign-in throttle then see people, not the proxy (behind a proxy they
// would all share one address, and one attacker's failures would hold
// everyone up). A header from anyone else is ignored: it is theirs to forge.
func fromProxies(trusted []netip.Prefix, next http.Handler) http.Handler {
	if len(trusted) == 0 {
		return next
	}
	isTrusted := func(s string) bool {
		a, err := netip.ParseAddr(strings.TrimSpace(s))
		if err != nil {
			return false
		}
		for _, p := range trusted {
			if p.Contains(a.Unmap()) {
				return true
			}
		}
		return false
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil || !isTrusted(host) {
			next.ServeHTTP(w, r)
			return
		}
		hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			hop := strings.TrimSpace(hops[i])
			if _, err := netip.ParseAddr(hop); err != nil {
				break // not an address: stop at what the proxy itself added
			}
			if !isTrusted(hop) {
				r2 := r.Clone(r.Context())
				r2.RemoteAddr = net.JoinHostPort(hop, "0")
				next.ServeHTTP(w, r2)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// ParseProxies reads --trusted-proxy values: addresses or CIDR prefixes.
func ParseProxies(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, err
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}
