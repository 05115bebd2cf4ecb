package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// clients are the HTTP clients the run uses: one per source address, so a
// workstation's enrollment and desk sign-in come from its own address.
type clients struct {
	def    *http.Client
	bySrc  []*http.Client
	dialer []*net.Dialer // the WebSocket dialers, per source address
}

func newClients(sources []string) *clients {
	c := &clients{def: newClient(nil)}
	for _, s := range sources {
		d := &net.Dialer{Timeout: 15 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(s)}}
		c.dialer = append(c.dialer, d)
		c.bySrc = append(c.bySrc, newClient(d))
	}
	return c
}

func newClient(d *net.Dialer) *http.Client {
	if d == nil {
		d = &net.Dialer{Timeout: 15 * time.Second}
	}
	return &http.Client{
		Timeout: 60 * time.Second,
		Transport: &http.Transport{
			DialContext:         d.DialContext,
			MaxIdleConnsPerHost: 8,
			IdleConnTimeout:     30 * time.Second,
		},
		// The desk's sign-in answers 303; the cookie it sets is what counts.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// forAgent is agent i's client (its source address's).
func (c *clients) forAgent(i int) *http.Client {
	if len(c.bySrc) == 0 {
		return c.def
	}
	return c.bySrc[i%len(c.bySrc)]
}

// wsClient is the client agent i's WebSocket is dialled with: its own
// transport (a WebSocket hijacks its connection, so pooling buys nothing).
// The connection's local address is written to local.
func (c *clients) wsClient(i int, local *string) *http.Client {
	var d *net.Dialer
	if len(c.dialer) > 0 {
		d = c.dialer[i%len(c.dialer)]
	} else {
		d = &net.Dialer{Timeout: 15 * time.Second}
	}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := d.DialContext(ctx, network, addr)
		if ta, ok := conn.(interface{ LocalAddr() net.Addr }); err == nil && ok {
			if host, _, err := net.SplitHostPort(ta.LocalAddr().String()); err == nil {
				*local = host
			}
		}
		return conn, err
	}
	return &http.Client{Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true}}
}

func (c *clients) close() {
	c.def.CloseIdleConnections()
	for _, h := range c.bySrc {
		h.CloseIdleConnections()
	}
}

// StatusError is an HTTP answer other than 2xx.
type StatusError struct {
	Method, Path string
	Status       int
	Body         string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s %s: HTTP %d: %s", e.Method, e.Path, e.Status, strings.TrimSpace(e.Body))
}

// call sends a JSON API request with token (none if empty) and decodes a
// 2xx answer into out (if not nil).
func call(ctx context.Context, hc *http.Client, base, token, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return &StatusError{Method: method, Path: path, Status: resp.StatusCode, Body: string(raw)}
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
		}
	}
	return nil
}

// deskSignIn signs user in through the reference Agent Desk's form and
// returns the desk session's cookie. The form's token is a double submit:
// any value, in the form and in the vigil_login cookie alike.
func deskSignIn(ctx context.Context, hc *http.Client, base, user, password string) (*http.Cookie, error) {
	tok := randomHex(16)
	form := url.Values{"csrf": {tok}, "name": {user}, "password": {password}}
	req, err := http.NewRequestWithContext(ctx, "POST", base+"/desk/login", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: "vigil_login", Value: tok})
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("signing %s in to the Agent Desk: %w", user, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusSeeOther {
		return nil, &StatusError{Method: "POST", Path: "/desk/login", Status: resp.StatusCode, Body: deskError(string(raw))}
	}
	for _, c := range resp.Cookies() {
		if c.Name == "vigil_desk" && c.Value != "" {
			return c, nil
		}
	}
	return nil, fmt.Errorf("signing %s in to the Agent Desk: no desk session cookie in the answer", user)
}

// deskError is the message of a refused sign-in page.
func deskError(page string) string {
	if i := strings.Index(page, `id="login-error">`); i >= 0 {
		page = page[i+len(`id="login-error">`):]
		if j := strings.IndexByte(page, '<'); j >= 0 {
			return page[:j]
		}
	}
	return "(no message)"
}

// deskShowsLogout reports whether the desk page, opened with the desk
// session's cookie, shows the logged-out screen.
func deskShowsLogout(ctx context.Context, hc *http.Client, base string, cookie *http.Cookie) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/desk/", nil)
	if err != nil {
		return false, err
	}
	req.AddCookie(cookie)
	resp, err := hc.Do(req)
	if err != nil {
		return false, fmt.Errorf("opening the Agent Desk: %w", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return strings.Contains(string(raw), "You were logged out because of inactivity"), nil
}
