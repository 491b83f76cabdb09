package server

import (
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Network controls (issue 9): per-listener allowlists, enforced when a
// connection is accepted, before any byte of TLS or HTTP is read; and the
// trusted-proxy rule for the client's address.

// ParsePrefixes parses CIDR networks (validated with the configuration).
func ParsePrefixes(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		p, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			return nil, err
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// allowListener closes connections from addresses outside its networks as
// soon as they are accepted. When proxies is set, connections from a trusted
// proxy are let through to be checked on their forwarded client address
// (ClientAddress).
type allowListener struct {
	net.Listener
	allow, proxies []netip.Prefix
	name           string
	log            *slog.Logger
}

func (l *allowListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if Allowed(c.RemoteAddr(), l.allow) || Allowed(c.RemoteAddr(), l.proxies) {
			return c, nil
		}
		l.log.Warn("connection refused: source address not in the listener's allowlist", "listener", l.name, "remote", c.RemoteAddr().String())
		c.Close()
	}
}

// Allowed reports whether addr lies in one of the networks.
func Allowed(addr net.Addr, nets []netip.Prefix) bool {
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil {
		return false
	}
	return inNets(ap.Addr(), nets)
}

func inNets(a netip.Addr, nets []netip.Prefix) bool {
	a = a.Unmap()
	for _, n := range nets {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

// ClientAddress rewrites r.RemoteAddr to the client's address when the TCP peer
// is a trusted proxy: the rightmost X-Forwarded-For entry that is not itself a
// trusted proxy (entries further left are the client's word and are not
// trusted). From any other peer X-Forwarded-For is ignored. With allow set, a
// proxied request whose client is outside it is refused (403), as a direct
// connection from there would have been.
func ClientAddress(trusted, allow []netip.Prefix, log *slog.Logger, next http.Handler) http.Handler {
	if len(trusted) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peer, err := netip.ParseAddrPort(r.RemoteAddr)
		if err != nil || !inNets(peer.Addr(), trusted) {
			next.ServeHTTP(w, r)
			return
		}
		client := peer.Addr().Unmap()
		hops := r.Header.Values("X-Forwarded-For")
		var entries []string
		for _, h := range hops {
			entries = append(entries, strings.Split(h, ",")...)
		}
		for i := len(entries) - 1; i >= 0; i-- {
			a, err := netip.ParseAddr(strings.TrimSpace(entries[i]))
			if err != nil {
				break // a malformed entry ends what can be trusted
			}
			client = a.Unmap()
			if !inNets(client, trusted) {
				break
			}
		}
		if len(allow) > 0 && !inNets(client, allow) {
			log.Warn("request refused: forwarded client address not in the listener's allowlist", "client", client.String(), "proxy", peer.Addr().String())
			WriteError(w, r, http.StatusForbidden, "your address may not use this service", "")
			return
		}
		r2 := r.Clone(r.Context())
		r2.RemoteAddr = netip.AddrPortFrom(client, 0).String()
		next.ServeHTTP(w, r2)
	})
}
