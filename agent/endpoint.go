package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/vigil-cc/vigil/agent/uplink"
)

// Endpoint is the coordinator as the agent reaches it.
type Endpoint struct {
	// Base is the coordinator's base URL, https:// (or http:// to
	// loopback or when allowed), with an optional path prefix.
	Base *url.URL
	// TLS is the client TLS configuration for https.
	TLS *tls.Config
	// Socket, when set, is the local service's Unix socket (an endpoint
	// given as unix:///run/vigil/agent.sock): the HTTP client dials it
	// whatever the URL's host, and no device token is needed (the service
	// holds it and knows the caller from the socket's peer credentials).
	Socket string
	// All are every coordinator replica when several URLs were given
	// (wss://a,wss://b); the fields above are the first's. Nil for one.
	All []Endpoint
}

// LocalHost is the host name in the URLs of a Unix socket endpoint.
const LocalHost = "vigil-agent.local"

// parseUnix takes unix:///path/to/socket (an absolute path, nothing else).
func parseUnix(raw string, u *url.URL) (Endpoint, error) {
	if u.Host != "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || !strings.HasPrefix(u.Path, "/") {
		return Endpoint{}, fmt.Errorf("local service URL %q: want unix:///absolute/path/to/socket", raw)
	}
	path := u.Path
	if runtime.GOOS == "windows" && len(path) >= 3 && path[2] == ':' {
		path = filepath.FromSlash(path[1:]) // unix:///C:/ProgramData/Vigil/agent.sock
	}
	return Endpoint{Base: &url.URL{Scheme: "http", Host: LocalHost}, Socket: path}, nil
}

// ParseEndpoint checks a coordinator URL: http, https, ws or wss (ws
// means http, wss https), a host, an optional path prefix, nothing else;
// or unix:///path, the local service's socket (see Endpoint.Socket).
// Plain http/ws is refused unless the host is loopback or allowInsecure:
// the device token and the readings would cross the network unencrypted.
// caFile, if given, holds the PEM CA certificates to trust instead of the
// system's.
//
// Several URLs separated by commas name coordinator replicas (docs/deploy.md,
// "Replicas"): the agent connects to one at a time and moves to the leader.
func ParseEndpoint(raw string, allowInsecure bool, caFile string) (Endpoint, error) {
	if !strings.Contains(raw, ",") {
		return parseOne(raw, allowInsecure, caFile)
	}
	var all []Endpoint
	for _, part := range strings.Split(raw, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		e, err := parseOne(part, allowInsecure, caFile)
		if err != nil {
			return Endpoint{}, err
		}
		if e.Local() {
			return Endpoint{}, fmt.Errorf("coordinator URLs %q: the local service's unix:// socket cannot be one of several", raw)
		}
		all = append(all, e)
	}
	if len(all) == 0 {
		return Endpoint{}, fmt.Errorf("coordinator URLs %q: no URL", raw)
	}
	if len(all) == 1 {
		return all[0], nil
	}
	e := all[0]
	e.All = all
	return e, nil
}

func parseOne(raw string, allowInsecure bool, caFile string) (Endpoint, error) {
	var e Endpoint
	if raw == "" {
		return e, errors.New("the coordinator URL is required, e.g. https://vigil.example.com")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return e, fmt.Errorf("coordinator URL %q: %v", raw, err)
	}
	switch strings.ToLower(u.Scheme) {
	case "unix":
		return parseUnix(raw, u)
	case "https", "wss":
		u.Scheme = "https"
	case "http", "ws":
		u.Scheme = "http"
	default:
		return e, fmt.Errorf("coordinator URL %q: the scheme must be https:// (or wss://); http:// and ws:// only to this machine", raw)
	}
	if u.Host == "" || u.Hostname() == "" {
		return e, fmt.Errorf("coordinator URL %q has no host", raw)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return e, fmt.Errorf("coordinator URL %q: no user info, query or fragment allowed", raw)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	if u.Scheme == "http" && !allowInsecure && !IsLoopback(u.Hostname()) {
		return e, fmt.Errorf("refusing plain %s:// to %s: the device token and the readings would cross the network unencrypted; use https:// (wss://), or --allow-insecure if you must",
			strings.ToLower(strings.SplitN(raw, ":", 2)[0]), u.Host)
	}
	e.Base = u
	if u.Scheme == "https" {
		e.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
		if caFile != "" {
			pem, err := os.ReadFile(caFile)
			if err != nil {
				return e, fmt.Errorf("reading the CA file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return e, fmt.Errorf("the CA file %s holds no PEM certificate", caFile)
			}
			e.TLS.RootCAs = pool
		}
	}
	return e, nil
}

// IsLoopback reports whether host (a name or an IP, without port) is this
// machine: localhost, 127.0.0.0/8 or ::1.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Replicas are the coordinator replicas, for the uplink (one: e itself).
func (e Endpoint) Replicas() []uplink.Endpoint {
	if len(e.All) == 0 {
		return []uplink.Endpoint{e}
	}
	out := make([]uplink.Endpoint, len(e.All))
	for i, r := range e.All {
		out[i] = r
	}
	return out
}

// String is the base URL (every replica's, separated by commas), or
// unix://socket for the local service.
func (e Endpoint) String() string {
	if len(e.All) > 0 {
		parts := make([]string, len(e.All))
		for i, r := range e.All {
			parts[i] = r.String()
		}
		return strings.Join(parts, ",")
	}
	if e.Socket != "" {
		return "unix://" + e.Socket
	}
	return e.Base.String()
}

// Local reports whether this is the local service's Unix socket.
func (e Endpoint) Local() bool { return e.Socket != "" }

// WebSocketURL is the agents' endpoint: ws(s)://host/prefix/agent/v1/ws.
func (e Endpoint) WebSocketURL() string {
	u := *e.Base
	if u.Scheme == "https" {
		u.Scheme = "wss"
	} else {
		u.Scheme = "ws"
	}
	u.Path += "/agent/v1/ws"
	return u.String()
}

// APIURL is the URL of an API path such as /api/v1/enroll.
func (e Endpoint) APIURL(path string) string {
	u := *e.Base
	u.Path += path
	return u.String()
}

// HTTPClient is a client for the coordinator: its TLS settings, no
// proxies from the environment for loopback, sane timeouts.
func (e Endpoint) HTTPClient() *http.Client {
	if e.Socket != "" {
		d := &net.Dialer{Timeout: 10 * time.Second}
		sock := e.Socket
		return &http.Client{Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return d.DialContext(ctx, "unix", sock)
			},
			MaxIdleConns:    1,
			IdleConnTimeout: 30 * time.Second,
		}}
	}
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		TLSClientConfig:     e.TLS,
		TLSHandshakeTimeout: 10 * time.Second,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:   false, // WebSocket upgrades need HTTP/1.1
		MaxIdleConns:        1,
		IdleConnTimeout:     30 * time.Second,
	}
	return &http.Client{Transport: tr}
}
