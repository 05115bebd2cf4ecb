package sensors

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

type fakeDesktop struct {
	idle    time.Duration
	wl      WindowList
	locked  bool
	failure string // "idle", "windows" or "locked"
}

var errFake = errors.New("X connection lost")

func (f fakeDesktop) Idle() (time.Duration, error) {
	if f.failure == "idle" {
		return 0, errFake
	}
	return f.idle, nil
}

func (f fakeDesktop) Windows() (WindowList, error) {
	if f.failure == "windows" {
		return WindowList{}, errFake
	}
	return f.wl, nil
}

func (f fakeDesktop) ScreenLocked() (bool, error) {
	if f.failure == "locked" {
		return false, errFake
	}
	return f.locked, nil
}

func TestReadDesktop(t *testing.T) {
	desk := Window{ID: 1, Title: "Agent Desk CANARY - Chromium", PID: 42}
	at := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	r, err := ReadDesktop(fakeDesktop{idle: 1500 * time.Millisecond, wl: WindowList{Foreground: &desk, Windows: []Window{desk}}, locked: true}, defaultRE, func() time.Time { return at })
	if err != nil {
		t.Fatal(err)
	}
	want := Reading{IdleMs: 1500, AgentDeskForeground: true, ScreenLocked: true, ForegroundPID: 42, At: at}
	if r != want {
		t.Errorf("reading %+v, want %+v", r, want)
	}

	desk.Hidden = true
	r, _ = ReadDesktop(fakeDesktop{wl: WindowList{Windows: []Window{desk}}}, defaultRE, time.Now)
	if !r.AgentDeskMinimized || r.AgentDeskForeground || r.ForegroundPID != 0 {
		t.Errorf("minimized: %+v", r)
	}

	for _, f := range []string{"idle", "windows", "locked"} {
		if _, err := ReadDesktop(fakeDesktop{failure: f}, defaultRE, time.Now); !errors.Is(err, errFake) {
			t.Errorf("%s failing: err %v", f, err)
		}
	}
}

// Marshalling a Reading sends only what may leave the workstation.
func TestReadingJSONOmitsLocalFields(t *testing.T) {
	b, err := json.Marshal(Reading{IdleMs: 5, Voice: true, ForegroundPID: 4242, MicDBFS: -23.5})
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	want := `{"idle_ms":5,"agent_desk_foreground":false,"agent_desk_minimized":false,"screen_locked":false,"mic_available":false,"voice":true}`
	if got != want {
		t.Errorf("JSON %s, want %s", got, want)
	}
	if strings.Contains(got, "4242") || strings.Contains(got, "23.5") {
		t.Errorf("local-only fields leaked: %s", got)
	}
}
