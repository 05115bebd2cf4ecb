package notify

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestWindowText(t *testing.T) {
	long := strings.Repeat("é", 500)
	for _, c := range []struct{ summary, body, want string }{
		{"Agent Desk", "You will be logged out in 6 seconds due to inactivity",
			"Agent Desk\r\n\r\nYou will be logged out in 6 seconds due to inactivity"},
		{"Agent Desk", "You were logged out of the Agent Desk due to inactivity",
			"Agent Desk\r\n\r\nYou were logged out of the Agent Desk due to inactivity"},
		{"", "body only", "body only"},
		{"summary only", " ", "summary only"},
		{" a\tb\n", "c\x00d\r\ne", "a b\r\n\r\nc d  e"},
		{"", long, strings.Repeat("é", maxWindowText-1) + "…"},
	} {
		if got := windowText(c.summary, c.body); got != c.want {
			t.Errorf("windowText(%q, %q) = %q, want %q", c.summary, c.body, got, c.want)
		}
		if n := utf8.RuneCountInString(windowText(c.summary, c.body)); n > maxWindowText {
			t.Errorf("%d characters", n)
		}
	}
}

func TestWindowTitleIsFixed(t *testing.T) {
	if WindowTitle != "Vigil — inactivity warning" {
		t.Errorf("title %q", WindowTitle)
	}
}

// The ids behave like a notification service's: replacing the one shown
// keeps its id, a new one gets a new id, closing only takes down the one
// shown.
func TestWindowIDs(t *testing.T) {
	var w windowIDs
	a := w.notify(0)
	if a == 0 {
		t.Fatal("id 0")
	}
	if got := w.notify(a); got != a {
		t.Errorf("replacing %d gave %d", a, got)
	}
	if w.close(a + 100) {
		t.Errorf("closing an unknown id took the window down")
	}
	if !w.close(a) || w.close(a) {
		t.Errorf("closing %d: want true once", a)
	}
	b := w.notify(a) // replacing a closed one: a new notification
	if b == a || b == 0 {
		t.Errorf("after closing %d, replacing it gave %d", a, b)
	}
	c := w.notify(0) // a new one replaces what is shown, with a new id
	if c == b || w.close(b) || !w.close(c) {
		t.Errorf("new %d after %d", c, b)
	}
	d := w.notify(0)
	w.expired()
	if w.close(d) {
		t.Errorf("closing %d after it expired took a window down", d)
	}
	w.last = ^uint32(0)
	if e := w.notify(0); e != 1 {
		t.Errorf("after the wrap: %d, want 1", e)
	}
}
