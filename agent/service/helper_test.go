package service

import (
	"slices"
	"testing"

	"github.com/vigil-cc/vigil/platform/sessions"
)

// The Windows helper is told its session: without --session-id it could
// not name it (no XDG_SESSION_ID, no DISPLAY) and would exit at once.
func TestWindowsLaunch(t *testing.T) {
	s := sessions.Session{ID: "wts-3", User: `CORP\ann`, WTSID: 3}
	l := windowsLaunch(`C:\Program Files\Vigil\vigil-agent.exe`, `C:\ProgramData\Vigil\agent.sock`, s, []string{"--mic=false"})
	want := []string{`C:\Program Files\Vigil\vigil-agent.exe`, "session", "--coordinator", "unix:///C:/ProgramData/Vigil/agent.sock",
		"--session-id", "wts-3", "--mic=false"}
	if !slices.Equal(l.argv, want) {
		t.Errorf("argv\n got  %q\n want %q", l.argv, want)
	}
	if l.wts != 3 || l.user != `CORP\ann` {
		t.Errorf("runs in session %d as %q, want session 3 as CORP\\ann", l.wts, l.user)
	}
}

func TestHelperArgs(t *testing.T) {
	s := sessions.Session{ID: "x11-1000-0", UID: 1000, Display: ":0"}
	got := HelperArgs("unix:///run/vigil/agent.sock", s, []string{"--log-level", "debug"})
	want := []string{"session", "--coordinator", "unix:///run/vigil/agent.sock", "--session-id", "x11-1000-0", "--log-level", "debug"}
	if !slices.Equal(got, want) {
		t.Errorf("HelperArgs = %q, want %q", got, want)
	}
}
