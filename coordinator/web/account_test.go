package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// People change their own password: on the admin pages and on the Agent
// Desk. The current password is required; every other session of the
// account ends, this browser keeps a fresh one.
func TestChangeOwnPassword(t *testing.T) {
	s := start(t)
	s.account("sue", "supervisor", "first password")
	s.account("amy", "agent", "agent password")

	elsewhere := s.browser()
	elsewhere.login("sue", "first password")
	b := s.browser()
	b.login("sue", "first password")
	b.get("/admin/account")
	if p := b.post("/admin/account/password", url.Values{"csrf": {b.csrf()}, "current": {"wrong one!!"},
		"password": {"second password"}, "repeat": {"second password"}}); p.Status != http.StatusUnauthorized {
		t.Fatalf("a wrong current password: %d", p.Status)
	}
	if p := b.post("/admin/account/password", url.Values{"csrf": {b.csrf()}, "current": {"first password"},
		"password": {"second password"}, "repeat": {"typo password"}}); p.Status != http.StatusBadRequest {
		t.Fatalf("a mistyped repetition: %d", p.Status)
	}
	p := b.post("/admin/account/password", url.Values{"csrf": {b.csrf()}, "current": {"first password"},
		"password": {"second password"}, "repeat": {"second password"}})
	if p.Status != http.StatusSeeOther || p.Location != "/admin/account?done=1" {
		t.Fatalf("changing the password: %d %s\n%s", p.Status, p.Location, p.Body)
	}
	if p := b.get("/admin/dashboard"); p.Status != http.StatusOK {
		t.Errorf("this browser after the change: %d, want still signed in", p.Status)
	}
	if p := elsewhere.get("/admin/dashboard"); p.Status != http.StatusSeeOther {
		t.Errorf("another browser after the change: %d, want signed out", p.Status)
	}
	s.browser().login("sue", "second password")

	// The Agent Desk's own page.
	d := s.browser()
	d.get("/desk/")
	if p := d.post("/desk/login", url.Values{"csrf": {d.csrf()}, "name": {"amy"}, "password": {"agent password"}}); p.Status != http.StatusSeeOther {
		t.Fatalf("desk sign-in: %d", p.Status)
	}
	if p := d.get("/desk/password"); p.Status != http.StatusOK || !strings.Contains(p.Body, `action="/desk/password"`) {
		t.Fatalf("the desk's password page: %d", p.Status)
	}
	p = d.post("/desk/password", url.Values{"csrf": {d.csrf()}, "current": {"agent password"},
		"password": {"new agent password"}, "repeat": {"new agent password"}})
	if p.Status != http.StatusSeeOther {
		t.Fatalf("changing the agent's password: %d\n%s", p.Status, p.Body)
	}
	if n := len(s.audit("kind=account.password_changed")); n != 2 {
		t.Errorf("%d password changes audited, want 2", n)
	}
}

// Admins disable accounts and reset passwords on the People page.
func TestAdminDisablesAndResets(t *testing.T) {
	s := start(t)
	s.account("sue", "supervisor", "first password")
	sue := s.browser()
	sue.login("sue", "first password")
	b := s.browser()
	b.login("admin", s.adminPassword())
	b.get("/admin/people")
	p := b.post("/admin/people/accounts/sue/password", url.Values{"csrf": {b.csrf()}})
	if p.Status != http.StatusOK || !strings.Contains(p.Body, `id="new-password"`) {
		t.Fatalf("reset: %d", p.Status)
	}
	if p := sue.get("/admin/dashboard"); p.Status != http.StatusSeeOther {
		t.Errorf("sue after the reset: %d, want signed out", p.Status)
	}
	if p := b.post("/admin/people/accounts/sue/disable", url.Values{"csrf": {b.csrf()}}); p.Status != http.StatusSeeOther {
		t.Fatalf("disable: %d", p.Status)
	}
	b.get("/admin/people")
	if p := b.post("/admin/people/accounts/admin/disable", url.Values{"csrf": {b.csrf()}}); p.Status != http.StatusBadRequest || !strings.Contains(p.Body, "last admin") {
		t.Errorf("disabling the last admin: %d", p.Status)
	}
}
