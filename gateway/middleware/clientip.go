package middleware

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

type clientIPKey struct{}

// ClientIP finds the client's address: the connection's peer, or, when the
// peer is a trusted proxy, the last X-Forwarded-For hop that is not one.
func ClientIP(trusted []netip.Prefix) func(http.Handler) http.Handler {
	isTrusted := func(a netip.Addr) bool {
		for _, p := range trusted {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			host, _, err := net.SplitHostPort(r.RemoteAddr)
			if err != nil {
				host = r.RemoteAddr
			}
			addr, err := netip.ParseAddr(host)
			ip := host
			if err == nil {
				addr = addr.Unmap()
				ip = addr.String()
				if len(trusted) > 0 && isTrusted(addr) {
					// Every X-Forwarded-For line counts: a proxy may add its own
					// line rather than append to the client's.
					hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
					for i := len(hops) - 1; i >= 0; i-- {
						h, err := parseHop(strings.TrimSpace(hops[i]))
						if err != nil {
							break
						}
						ip = h.Unmap().String()
						if !isTrusted(h.Unmap()) {
							break
						}
					}
				}
			}
			if i := infoFrom(r.Context()); i != nil {
				i.clientIP = ip // behind RequestID: no copy of the request
				next.ServeHTTP(w, r)
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), clientIPKey{}, ip)))
		})
	}
}

// parseHop reads an X-Forwarded-For entry: an address, possibly with a port
// ("203.0.113.7:5123", "[2001:db8::1]:443").
func parseHop(h string) (netip.Addr, error) {
	if ap, err := netip.ParseAddrPort(h); err == nil {
		return ap.Addr(), nil
	}
	return netip.ParseAddr(strings.Trim(h, "[]"))
}

// ClientIPFrom returns the address ClientIP found.
func ClientIPFrom(ctx context.Context) string {
	if i := infoFrom(ctx); i != nil && i.clientIP != "" {
		return i.clientIP
	}
	ip, _ := ctx.Value(clientIPKey{}).(string)
	return ip
}
