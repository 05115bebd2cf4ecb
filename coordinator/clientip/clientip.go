// Package clientip tells which client a request came from, for rate
// limits: the peer's address, or behind a trusted reverse proxy the address
// the proxy saw (X-Forwarded-For), and the key a limit counts it under (an
// IPv6 client by its /64, which one customer usually holds whole).
package clientip

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Resolver finds a request's client. The zero value trusts no proxy.
type Resolver struct {
	// Trusted are the reverse proxies whose X-Forwarded-For is believed.
	Trusted []netip.Prefix
}

// ParseTrusted reads a comma-separated list of addresses and CIDR prefixes
// ("10.0.0.5, 192.168.0.0/24, ::1").
func ParseTrusted(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an address nor a CIDR prefix", f)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

func (r Resolver) trusted(a netip.Addr) bool {
	for _, p := range r.Trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Addr is the client's address: the peer's, unless the peer is a trusted
// proxy, in which case X-Forwarded-For is read from the right, skipping
// trusted proxies, and the first address not trusted is the client (the
// entries left of it are the client's own word, never believed).
func (r Resolver) Addr(req *http.Request) netip.Addr {
	peer := peerAddr(req.RemoteAddr)
	if !peer.IsValid() || !r.trusted(peer) {
		return peer
	}
	hops := req.Header.Values("X-Forwarded-For")
	var all []string
	for _, h := range hops {
		all = append(all, strings.Split(h, ",")...)
	}
	for i := len(all) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(all[i]))
		if err != nil {
			return peer // a garbled header: count it against the proxy
		}
		a = a.Unmap()
		if !r.trusted(a) {
			return a
		}
	}
	return peer
}

// Key is the client's rate-limit key: an IPv4 address as is, an IPv6
// address by its /64.
func (r Resolver) Key(req *http.Request) string { return Key(r.Addr(req)) }

// Key is a's rate-limit key.
func Key(a netip.Addr) string {
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

func peerAddr(remote string) netip.Addr {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}
