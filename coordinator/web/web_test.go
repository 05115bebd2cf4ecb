package web_test

import (
	"encoding/csv"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/vigil-cc/vigil/coordinator"
	"github.com/vigil-cc/vigil/coordinator/store"
)

func TestFirstStartMakesTheAdminAccount(t *testing.T) {
	s := start(t)
	path := filepath.Join(s.dir, coordinator.AdminPasswordFile)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("no %s after the first start: %v", coordinator.AdminPasswordFile, err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", path, fi.Mode().Perm())
	}
	b := s.browser()
	b.login("admin", s.adminPassword())
	if p := b.get("/admin/settings"); p.Status != http.StatusOK || !strings.Contains(p.Body, "Admin › Agent Desk Settings") {
		t.Fatalf("settings page: %d", p.Status)
	}
	es := s.audit("kind=account.created")
	if len(es) != 1 || es[0].Actor != "system" || !strings.Contains(string(es[0].Detail), `"admin"`) {
		t.Fatalf("audit of the first account: %+v", es)
	}
}

func TestSignInSessionsAndCSRF(t *testing.T) {
	s := start(t)
	s.account("sam", "supervisor", "supervisor pass")
	s.account("ann", "agent", "agent password")
	b := s.browser()

	// Without a session a page goes to the sign-in page, and a POST is refused.
	p := b.get("/admin/settings")
	if p.Status != http.StatusSeeOther || p.Location != "/login?next=%2Fadmin%2Fsettings" {
		t.Fatalf("GET /admin/settings without a session: %d → %q", p.Status, p.Location)
	}
	if p := b.post("/admin/settings", url.Values{"seconds": {"45"}}); p.Status != http.StatusForbidden {
		t.Fatalf("POST without a session: %d", p.Status)
	}
	// The sign-in form itself carries a token.
	b.get("/login")
	if p := b.post("/login", url.Values{"name": {"admin"}, "password": {s.adminPassword()}}); p.Status != http.StatusForbidden {
		t.Fatalf("sign-in without its CSRF token: %d", p.Status)
	}
	p = b.post("/login", url.Values{"csrf": {b.csrf()}, "name": {"admin"}, "password": {"wrong password"}})
	if p.Status != http.StatusUnauthorized || !strings.Contains(p.Body, "Wrong name or password.") {
		t.Fatalf("a wrong password: %d", p.Status)
	}
	// Agents do not sign in to the admin pages.
	p = b.post("/login", url.Values{"csrf": {b.csrf()}, "name": {"ann"}, "password": {"agent password"}})
	if p.Status != http.StatusForbidden || !strings.Contains(p.Body, "Agent accounts sign in at the Agent Desk") {
		t.Fatalf("an agent at /login: %d", p.Status)
	}

	b.login("admin", s.adminPassword())
	var cookie string
	u, _ := url.Parse(s.base)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == "vigil_session" {
			cookie = c.Value
		}
	}
	if cookie == "" {
		t.Fatal("no session cookie after signing in")
	}
	// Look at the Set-Cookie line itself for the attributes.
	b2 := s.browser()
	b2.get("/login")
	p = b2.post("/login", url.Values{"csrf": {b2.csrf()}, "name": {"admin"}, "password": {s.adminPassword()}})
	var set string
	for _, l := range p.Header.Values("Set-Cookie") {
		if strings.HasPrefix(l, "vigil_session=") {
			set = l
		}
	}
	for _, want := range []string{"HttpOnly", "SameSite=Lax", "Path=/"} {
		if !strings.Contains(set, want) {
			t.Errorf("session cookie %q lacks %s", set, want)
		}
	}
	if strings.Contains(set, "Secure") {
		t.Errorf("session cookie %q is Secure over plain HTTP", set)
	}
	// The page's security headers.
	p = b.get("/admin/settings")
	if csp := p.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}

	// A POST without the token, or with another session's, is refused.
	form := url.Values{"enabled": {"on"}, "seconds": {"45"}, "title_pattern": {"^Agent Desk"}}
	if p := b.post("/admin/settings", form); p.Status != http.StatusForbidden || !strings.Contains(p.Body, "security token") {
		t.Fatalf("POST without the CSRF token: %d", p.Status)
	}
	b2.get("/admin/settings")
	form.Set("csrf", b2.csrf())
	if p := b.post("/admin/settings", form); p.Status != http.StatusForbidden {
		t.Fatalf("POST with another session's token: %d", p.Status)
	}
	// A cross-site POST is refused even with the token.
	b.get("/admin/settings")
	form.Set("csrf", b.csrf())
	req, _ := http.NewRequest("POST", s.base+"/admin/settings", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if p := b.do(req); p.Status != http.StatusForbidden {
		t.Fatalf("a cross-site POST: %d", p.Status)
	}
	var got map[string]map[string]any
	s.mustAPI("GET", "/api/v1/settings", nil, &got)
	if got["inactivity_timeout"]["seconds"] != float64(300) {
		t.Fatalf("a refused POST changed the settings: %v", got)
	}

	// Supervisors see, admins change: the form is read-only and a crafted
	// POST with the supervisor's own valid token is refused.
	sup := s.browser()
	sup.login("sam", "supervisor pass")
	p = sup.get("/admin/settings")
	if p.Status != http.StatusOK || !strings.Contains(p.Body, "<fieldset disabled>") || strings.Contains(p.Body, `id="save"`) {
		t.Fatalf("the supervisor's settings page is not read-only: %d", p.Status)
	}
	form.Set("csrf", sup.csrf())
	if p := sup.post("/admin/settings", form); p.Status != http.StatusForbidden {
		t.Fatalf("a supervisor's POST: %d", p.Status)
	}
	for _, path := range []string{"/admin/dashboard", "/admin/audit", "/admin/people"} {
		if p := sup.get(path); p.Status != http.StatusOK {
			t.Errorf("supervisor GET %s: %d", path, p.Status)
		}
	}
	if strings.Contains(sup.get("/admin/people").Body, "Enrollment tokens") {
		t.Error("a supervisor sees enrollment tokens")
	}

	// Signing out ends the session for good.
	b.get("/admin/settings")
	if p := b.post("/logout", url.Values{"csrf": {b.csrf()}}); p.Status != http.StatusSeeOther {
		t.Fatalf("sign out: %d", p.Status)
	}
	req, _ = http.NewRequest("GET", s.base+"/admin/settings", nil)
	req.AddCookie(&http.Cookie{Name: "vigil_session", Value: cookie})
	if p := (&browser{t: t, s: s, c: &http.Client{CheckRedirect: b.c.CheckRedirect}}).do(req); p.Status != http.StatusSeeOther {
		t.Fatalf("the old session cookie still works after signing out: %d", p.Status)
	}
}

func TestSignInIsRateLimited(t *testing.T) {
	s := start(t)
	s.account("victim", "admin", "the real password")
	b := s.browser()
	b.get("/login")
	try := func(name, pw string) page {
		return b.post("/login", url.Values{"csrf": {b.csrf()}, "name": {name}, "password": {pw}})
	}
	for i := range 5 {
		if p := try("victim", "guess"); p.Status != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d", i+1, p.Status)
		}
	}
	p := try("victim", "the real password")
	m := regexp.MustCompile(`Too many attempts, try again in (\d+) s\.`).FindStringSubmatch(p.Body)
	if p.Status != http.StatusTooManyRequests || m == nil || m[1] == "0" {
		t.Fatalf("the 6th attempt: %d, want 429 saying how long to wait\n%s", p.Status, p.Body)
	}
	// Another account is not locked by it, until the address runs out.
	s.account("other", "admin", "other password")
	if p := try("other", "other password"); p.Status != http.StatusSeeOther {
		t.Fatalf("another account from the same address: %d", p.Status)
	}
	b.get("/login")
	for i := 0; ; i++ {
		p := try("nobody"+string(rune('a'+i)), "x")
		if p.Status == http.StatusTooManyRequests {
			break
		}
		if i > 25 {
			t.Fatal("the per-address limit never applied")
		}
	}
}

func TestSettingsForm(t *testing.T) {
	s := start(t)
	b := s.browser()
	b.login("admin", s.adminPassword())
	submit := func(form url.Values) page {
		b.get("/admin/settings")
		form.Set("csrf", b.csrf())
		return b.post("/admin/settings", form)
	}
	// The server's own checks, as the API's: whatever the browser would
	// have stopped, posted directly.
	for _, bad := range []string{"29", "3601", "12.5", "abc", "", "-5", "+45", " 45", "1e2", "300000000000"} {
		p := submit(url.Values{"enabled": {"on"}, "seconds": {bad}, "title_pattern": {"^Agent Desk"}})
		if p.Status != http.StatusBadRequest || !strings.Contains(p.Body, `id="seconds-error"`) ||
			!strings.Contains(p.Body, "from 30 to 3600") || !strings.Contains(p.Body, `aria-invalid="true"`) {
			t.Errorf("seconds %q: %d, want 400 with the range next to the field", bad, p.Status)
		}
	}
	p := submit(url.Values{"enabled": {"on"}, "seconds": {"60"}, "title_pattern": {"(unclosed"}})
	if p.Status != http.StatusBadRequest || !strings.Contains(p.Body, `id="pattern-error"`) || !strings.Contains(p.Body, "not a valid regular expression") {
		t.Errorf("a bad pattern: %d", p.Status)
	}
	if es := s.audit("kind=settings.changed"); len(es) != 0 {
		t.Fatalf("refused forms changed the settings: %+v", es)
	}

	p = submit(url.Values{"enabled": {"on"}, "seconds": {"45"}, "title_pattern": {`^Agent Desk, "Main"`}})
	if p.Status != http.StatusSeeOther || p.Location != "/admin/settings?saved=1" {
		t.Fatalf("saving 45: %d %q", p.Status, p.Location)
	}
	page := b.get(p.Location)
	if !strings.Contains(page.Body, "Saved. Applies to every session now.") || !strings.Contains(page.Body, `value="45"`) {
		t.Fatal("after saving, the page does not confirm or show 45")
	}
	var doc map[string]map[string]any
	s.mustAPI("GET", "/api/v1/settings", nil, &doc)
	if doc["inactivity_timeout"]["seconds"] != float64(45) || doc["agent_desk"]["title_pattern"] != `^Agent Desk, "Main"` {
		t.Fatalf("GET /api/v1/settings = %v", doc)
	}
	es := s.audit("kind=settings.changed")
	if len(es) != 1 || es[0].Actor != "account:admin" {
		t.Fatalf("the save's audit entry: %+v", es)
	}
	// The toggle: a checkbox left out means off.
	submit(url.Values{"seconds": {"45"}, "title_pattern": {"^Agent Desk"}})
	if !strings.Contains(b.get("/admin/settings").Body, `Inactivity Timeout <strong>off</strong>`) {
		t.Fatal("the toggle did not turn off")
	}
	submit(url.Values{"enabled": {"on"}, "seconds": {"45"}, "title_pattern": {"^Agent Desk"}})
	s.mustAPI("GET", "/api/v1/settings", nil, &doc)
	if doc["inactivity_timeout"]["enabled"] != true {
		t.Fatal("the toggle did not turn on again")
	}

	// The audit as CSV: an attachment, properly quoted, filtered.
	p = b.get("/admin/audit?kind=settings.changed&format=csv")
	if p.Status != http.StatusOK || !strings.HasPrefix(p.Header.Get("Content-Disposition"), `attachment; filename="vigil-audit-`) ||
		!strings.HasPrefix(p.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("CSV export: %d %v", p.Status, p.Header)
	}
	recs, err := csv.NewReader(strings.NewReader(p.Body)).ReadAll()
	if err != nil {
		t.Fatalf("the export is not valid CSV: %v\n%s", err, p.Body)
	}
	if len(recs) != 4 || strings.Join(recs[0], ",") != "id,at,actor,kind,user,summary,conversations,detail" {
		t.Fatalf("CSV records: %q", recs)
	}
	if last := recs[3]; last[2] != "account:admin" || last[3] != "settings.changed" || !strings.Contains(last[5], `"^Agent Desk, \"Main\""`) {
		t.Fatalf("the first change's row: %q", last)
	}
	if p := b.get("/admin/audit?since=yesterday"); p.Status != http.StatusBadRequest || !strings.Contains(p.Body, "From must be a UTC time") {
		t.Fatalf("a bad time filter: %d", p.Status)
	}
}

func TestPeopleAndDevices(t *testing.T) {
	s := start(t, requireApproval)
	b := s.browser()
	b.login("admin", s.adminPassword())
	post := func(path string, form url.Values) page {
		b.get("/admin/people")
		form.Set("csrf", b.csrf())
		return b.post(path, form)
	}

	// An OS user a sensor reported that maps to nobody is listed, and one
	// click maps it.
	if _, err := s.srv.Store.NoteUnmapped(t.Context(), store.UnmappedUser{OSUser: `corp\jdoe`, Host: "ws-7", LastSeenAt: s.srv.Core.Now()}, store.UnmappedBounds{}); err != nil {
		t.Fatal(err)
	}
	p := b.get("/admin/people")
	if !strings.Contains(p.Body, `corp\jdoe`) || !strings.Contains(p.Body, `value="jdoe"`) || !strings.Contains(p.Body, "Map to…") {
		t.Fatal("the unmapped OS user is not offered for mapping")
	}
	if p := post("/admin/people/mappings", url.Values{"os_user": {`corp\jdoe`}, "desk_user": {"JDoe"}}); p.Status != http.StatusSeeOther {
		t.Fatalf("map to…: %d\n%s", p.Status, p.Body)
	}
	var ms []map[string]string
	s.mustAPI("GET", "/api/v1/mappings", nil, &ms)
	if len(ms) != 1 || ms[0]["os_user"] != `corp\jdoe` || ms[0]["desk_user"] != "jdoe" {
		t.Fatalf("mappings = %v", ms)
	}
	if strings.Contains(b.get("/admin/people").Body, "ws-7") {
		t.Error("the mapped OS user is still listed as unmapped")
	}
	if p := post("/admin/people/mappings", url.Values{"os_user": {"x"}, "desk_user": {""}}); p.Status != http.StatusBadRequest || !strings.Contains(p.Body, "desk_user must be 1 to 256") {
		t.Errorf("an empty desk user: %d", p.Status)
	}
	if p := post("/admin/people/mappings/delete", url.Values{"os_user": {`CORP\JDoe`}}); p.Status != http.StatusSeeOther {
		t.Fatalf("deleting the mapping: %d", p.Status)
	}
	s.mustAPI("GET", "/api/v1/mappings", nil, &ms)
	if len(ms) != 0 {
		t.Fatalf("mappings after delete = %v", ms)
	}

	// An enrollment token is shown once.
	p = post("/admin/people/enrollments", url.Values{"note": {"floor 2"}, "expires_days": {"2"}, "max_uses": {"3"}})
	m := regexp.MustCompile(`<code id="new-token">(vgl_enr_[A-Za-z0-9_-]+)</code>`).FindStringSubmatch(p.Body)
	if p.Status != http.StatusOK || m == nil {
		t.Fatalf("creating an enrollment token: %d", p.Status)
	}
	if strings.Contains(b.get("/admin/people").Body, m[1]) {
		t.Fatal("the enrollment token is shown again")
	}
	if p := post("/admin/people/enrollments", url.Values{"expires_days": {"0"}, "max_uses": {"3"}}); p.Status != http.StatusBadRequest {
		t.Errorf("0 days: %d", p.Status)
	}
	// A device enrolled with it waits for approval; approve, then revoke.
	var dev map[string]any
	if code := s.api("POST", "/api/v1/enroll", map[string]string{"enrollment_token": m[1], "host": "ws-9", "os": "linux"}, &dev); code != http.StatusCreated || dev["status"] != "pending" {
		t.Fatalf("enrolling: %d %v", code, dev)
	}
	id := dev["device_id"].(string)
	if !strings.Contains(b.get("/admin/people").Body, "/admin/people/devices/"+id+"/approve") {
		t.Fatal("no Approve for the pending device")
	}
	if p := post("/admin/people/devices/"+id+"/approve", url.Values{}); p.Status != http.StatusSeeOther {
		t.Fatalf("approve: %d", p.Status)
	}
	if p := post("/admin/people/devices/"+id+"/revoke", url.Values{}); p.Status != http.StatusSeeOther {
		t.Fatalf("revoke: %d", p.Status)
	}
	var devs []map[string]any
	s.mustAPI("GET", "/api/v1/devices", nil, &devs)
	if len(devs) != 1 || devs[0]["status"] != "revoked" {
		t.Fatalf("devices = %v", devs)
	}
	if p := post("/admin/people/devices/nope/revoke", url.Values{}); p.Status != http.StatusBadRequest {
		t.Errorf("revoking an unknown device: %d", p.Status)
	}
	// Revoke the token.
	var ens []map[string]any
	s.mustAPI("GET", "/api/v1/enrollment-tokens", nil, &ens)
	if p := post("/admin/people/enrollments/"+ens[0]["id"].(string)+"/revoke", url.Values{}); p.Status != http.StatusSeeOther {
		t.Fatalf("revoking the token: %d", p.Status)
	}
	for _, kind := range []string{"mapping.set", "mapping.deleted", "enrollment.created", "device.approved", "device.revoked", "enrollment.revoked"} {
		es := s.audit("kind=" + kind)
		if len(es) != 1 || es[0].Actor != "account:admin" {
			t.Errorf("%s audit: %+v", kind, es)
		}
	}
	// And an account from the page.
	if p := post("/admin/people/accounts", url.Values{"name": {"Zoe"}, "role": {"agent"}, "password": {"zoe's password"}}); p.Status != http.StatusSeeOther {
		t.Fatalf("creating an account: %d", p.Status)
	}
	if p := post("/admin/people/accounts", url.Values{"name": {"zoe"}, "role": {"agent"}, "password": {"zoe's password"}}); p.Status != http.StatusBadRequest || !strings.Contains(p.Body, "exists") {
		t.Fatalf("a second zoe: %d", p.Status)
	}
}

func TestAccountsAPI(t *testing.T) {
	s := start(t)
	var a map[string]any
	if code := s.api("POST", "/api/v1/accounts", map[string]string{"name": "Bea", "role": "supervisor"}, &a); code != http.StatusCreated ||
		a["name"] != "bea" || a["role"] != "supervisor" || len(a["password"].(string)) != 24 {
		t.Fatalf("creating with a generated password: %d %v", code, a)
	}
	b := s.browser()
	b.login("bea", a["password"].(string))
	for _, tc := range []struct {
		body map[string]any
		code int
		want string
	}{
		{map[string]any{"name": "bea", "role": "agent", "password": "long enough pw"}, http.StatusConflict, "exists"},
		{map[string]any{"name": "cy", "role": "root", "password": "long enough pw"}, http.StatusBadRequest, "role must be"},
		{map[string]any{"name": "cy", "role": "agent", "password": "short"}, http.StatusBadRequest, "password must be"},
		{map[string]any{"name": "cy", "role": "agent", "extra": true}, http.StatusBadRequest, "unknown field"},
	} {
		var e map[string]string
		if code := s.api("POST", "/api/v1/accounts", tc.body, &e); code != tc.code || !strings.Contains(e["error"], tc.want) {
			t.Errorf("%v: %d %v, want %d naming %q", tc.body, code, e, tc.code, tc.want)
		}
	}
	var list []map[string]any
	s.mustAPI("GET", "/api/v1/accounts", nil, &list)
	if len(list) != 2 || list[0]["name"] != "admin" || list[1]["name"] != "bea" || list[1]["password"] != nil {
		t.Fatalf("accounts = %v", list)
	}
}
