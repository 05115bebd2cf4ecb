package web_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vigil-cc/vigil/coordinator"
	"github.com/vigil-cc/vigil/internal/coordtest"
)

const adminToken = "vgl_api_web-test-admin-token-at-least-32-chars"

// server is a real coordinator on a loopback port.
type server struct {
	t    *testing.T
	srv  *coordinator.Server
	dir  string
	base string // http://127.0.0.1:PORT
}

type option func(*coordinator.Config)

func requireApproval(c *coordinator.Config) { c.RequireApproval = true }

func start(t *testing.T, opts ...option) *server {
	t.Helper()
	dir := t.TempDir()
	cfg := coordtest.Config(dir, adminToken)
	for _, o := range opts {
		o(&cfg)
	}
	srv := coordtest.Start(t, cfg, nil)
	return &server{t: t, srv: srv.Server, dir: dir, base: "http://" + srv.Addr}
}

// adminPassword is the first start's password for the account "admin".
func (s *server) adminPassword() string { return coordtest.AdminPassword(s.t, s.dir) }

// api calls the JSON API as the admin token and decodes the answer into out
// (if not nil); it returns the status.
func (s *server) api(method, path string, body any, out any) int {
	s.t.Helper()
	code, raw := coordtest.Call(s.t, s.base, adminToken, method, path, body)
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			s.t.Fatalf("%s %s: %d %s: %v", method, path, code, raw, err)
		}
	}
	return code
}

func (s *server) mustAPI(method, path string, body any, out any) {
	s.t.Helper()
	if code := s.api(method, path, body, out); code/100 != 2 {
		s.t.Fatalf("%s %s: %d", method, path, code)
	}
}

// account makes a web account through the API.
func (s *server) account(name, role, password string) {
	s.t.Helper()
	s.mustAPI("POST", "/api/v1/accounts", map[string]string{"name": name, "role": role, "password": password}, nil)
}

func (s *server) setTimeout(enabled bool, seconds int) {
	s.t.Helper()
	s.mustAPI("PUT", "/api/v1/settings", map[string]any{"inactivity_timeout": map[string]any{"enabled": enabled, "seconds": seconds}}, nil)
}

// auditEntry is an audit entry as the API lists it.
type auditEntry struct {
	ID     int64           `json:"id"`
	At     time.Time       `json:"at"`
	Actor  string          `json:"actor"`
	Kind   string          `json:"kind"`
	User   string          `json:"user"`
	Detail json.RawMessage `json:"detail"`
}

func (s *server) audit(query string) []auditEntry {
	s.t.Helper()
	var es []auditEntry
	s.mustAPI("GET", "/api/v1/audit?"+query, nil, &es)
	return es
}

// browser is a plain HTTP client with a cookie jar, for the pages.
type browser struct {
	t    *testing.T
	s    *server
	c    *http.Client
	last string // the last page's body
}

func (s *server) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: s.t, s: s, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

type page struct {
	Status   int
	Body     string
	Location string
	Header   http.Header
}

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	p := page{Status: resp.StatusCode, Body: string(raw), Location: resp.Header.Get("Location"), Header: resp.Header}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		b.last = p.Body
	}
	return p
}

func (b *browser) get(path string) page {
	b.t.Helper()
	req, _ := http.NewRequest("GET", b.s.base+path, nil)
	return b.do(req)
}

func (b *browser) post(path string, form url.Values) page {
	b.t.Helper()
	req, _ := http.NewRequest("POST", b.s.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf is the token in the last page's forms.
func (b *browser) csrf() string {
	b.t.Helper()
	m := csrfField.FindStringSubmatch(b.last)
	if m == nil {
		b.t.Fatalf("no CSRF field in the last page:\n%s", b.last)
	}
	return m[1]
}

// login signs in through /login and fails the test unless it worked.
func (b *browser) login(name, password string) {
	b.t.Helper()
	b.get("/login")
	p := b.post("/login", url.Values{"csrf": {b.csrf()}, "name": {name}, "password": {password}})
	if p.Status != http.StatusSeeOther {
		b.t.Fatalf("signing in as %s: %d\n%s", name, p.Status, p.Body)
	}
}
