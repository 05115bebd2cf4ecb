package clientip

import (
	"net/http"
	"testing"
)

func TestKeyAndAddr(t *testing.T) {
	trusted, err := ParseTrusted("10.0.0.5, 192.168.7.0/24 ,::1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseTrusted("10.0.0.5, proxy.example"); err == nil {
		t.Error("a host name was taken as a proxy address")
	}
	for _, c := range []struct {
		name, remote string
		xff          []string
		trust        bool
		want         string
	}{
		{"v4 as is", "203.0.113.9:5555", nil, true, "203.0.113.9"},
		{"v6 by its /64", "[2001:db8:1:2:aaaa::1]:443", nil, true, "2001:db8:1:2::/64"},
		{"same /64, same key", "[2001:db8:1:2:ffff::9]:443", nil, true, "2001:db8:1:2::/64"},
		{"v4-mapped v6 is v4", "[::ffff:203.0.113.9]:1", nil, true, "203.0.113.9"},
		{"forwarded header from an untrusted peer is ignored", "203.0.113.9:1", []string{"198.51.100.1"}, true, "203.0.113.9"},
		{"trusted proxy: the client it saw", "10.0.0.5:1", []string{"198.51.100.1"}, true, "198.51.100.1"},
		{"no proxy trusted", "10.0.0.5:1", []string{"198.51.100.1"}, false, "10.0.0.5"},
		{"the rightmost untrusted hop, not the client's own word", "10.0.0.5:1", []string{"1.2.3.4, 198.51.100.1, 192.168.7.20"}, true, "198.51.100.1"},
		{"several headers", "10.0.0.5:1", []string{"1.2.3.4", "2001:db8:9::1"}, true, "2001:db8:9::/64"},
		{"a garbled header counts against the proxy", "10.0.0.5:1", []string{"nonsense"}, true, "10.0.0.5"},
		{"only proxies", "10.0.0.5:1", []string{"192.168.7.1"}, true, "10.0.0.5"},
	} {
		r := Resolver{}
		if c.trust {
			r.Trusted = trusted
		}
		req, _ := http.NewRequest("GET", "/", nil)
		req.RemoteAddr = c.remote
		for _, v := range c.xff {
			req.Header.Add("X-Forwarded-For", v)
		}
		if got := r.Key(req); got != c.want {
			t.Errorf("%s: key %q, want %q", c.name, got, c.want)
		}
	}
}
