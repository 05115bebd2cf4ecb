//go:build linux

package x11_test

import (
	"fmt"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/xproto"

	"github.com/vigil-cc/vigil/internal/testrig"
	"github.com/vigil-cc/vigil/platform/x11"
	"github.com/vigil-cc/vigil/sensors"
)

func connect(t *testing.T, x *testrig.X) *x11.Conn {
	t.Helper()
	c, err := x11.Connect(x.Name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// xmessage opens a window titled title and returns its id.
func xmessage(t *testing.T, x *testrig.X, title string) uint64 {
	t.Helper()
	id := x.XMessage(t, title)
	n, err := strconv.ParseUint(id, 10, 64)
	if err != nil {
		t.Fatalf("window id %q: %v", id, err)
	}
	return n
}

func windows(t *testing.T, c *x11.Conn) sensors.WindowList {
	t.Helper()
	wl, err := c.Windows()
	if err != nil {
		t.Fatal(err)
	}
	return wl
}

func find(wl sensors.WindowList, id uint64) *sensors.Window {
	for i := range wl.Windows {
		if wl.Windows[i].ID == id {
			return &wl.Windows[i]
		}
	}
	return nil
}

func describe(wl sensors.WindowList) string {
	s := "foreground "
	if wl.Foreground == nil {
		s += "none"
	} else {
		s += fmt.Sprintf("%d %q", wl.Foreground.ID, wl.Foreground.Title)
	}
	for _, w := range wl.Windows {
		s += fmt.Sprintf("; %d %q pid=%d hidden=%v", w.ID, w.Title, w.PID, w.Hidden)
	}
	return s
}

func TestWindowsFollowFocusAndMinimize(t *testing.T) {
	t.Parallel()
	x := testrig.Display(t)
	c := connect(t, x)
	if wl := windows(t, c); wl.Foreground != nil || len(wl.Windows) != 0 {
		t.Fatalf("empty display: %s", describe(wl))
	}
	desk := xmessage(t, x, "Agent Desk Ü")
	other := xmessage(t, x, "Other")
	ids := strconv.FormatUint(desk, 10)

	x.Activate(t, ids)
	testrig.Eventually(t, 5*time.Second, func() (bool, string) {
		wl := windows(t, c)
		return wl.Foreground != nil && wl.Foreground.ID == desk && wl.Foreground.Title == "Agent Desk Ü" &&
			find(wl, other) != nil && !find(wl, desk).Hidden, describe(wl)
	})

	x.MustXdotool(t, "windowminimize", "--sync", ids)
	testrig.Eventually(t, 5*time.Second, func() (bool, string) {
		wl := windows(t, c)
		w := find(wl, desk)
		return w != nil && w.Hidden && (wl.Foreground == nil || wl.Foreground.ID != desk), describe(wl)
	})
	fg, mini := sensors.DecideWindows(defaultRE(t), windows(t, c))
	if fg || !mini {
		t.Errorf("minimized desk decided foreground=%v minimized=%v", fg, mini)
	}

	x.Activate(t, ids)
	testrig.Eventually(t, 5*time.Second, func() (bool, string) {
		wl := windows(t, c)
		w := find(wl, desk)
		return w != nil && !w.Hidden && wl.Foreground != nil && wl.Foreground.ID == desk, describe(wl)
	})
}

func defaultRE(t *testing.T) *regexp.Regexp {
	re, err := sensors.CompileAgentDeskPattern(sensors.DefaultAgentDeskPattern)
	if err != nil {
		t.Fatal(err)
	}
	return re
}

func TestScreenLocked(t *testing.T) {
	t.Parallel()
	x := testrig.Display(t)
	c := connect(t, x)
	locked := func() bool {
		t.Helper()
		l, err := c.ScreenLocked()
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	if locked() {
		t.Fatal("fresh display reads locked")
	}

	xc, err := xgb.NewConnDisplay(x.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer xc.Close()
	root := xproto.Setup(xc).DefaultScreen(xc).Root

	// The X server's own screen saver.
	if err := xproto.ForceScreenSaverChecked(xc, xproto.ScreenSaverActive).Check(); err != nil {
		t.Fatal(err)
	}
	testrig.Eventually(t, 2*time.Second, func() (bool, string) { return locked(), "screen saver forced on, not locked" })
	if err := xproto.ForceScreenSaverChecked(xc, xproto.ScreenSaverReset).Check(); err != nil {
		t.Fatal(err)
	}
	testrig.Eventually(t, 2*time.Second, func() (bool, string) { return !locked(), "screen saver reset, still locked" })

	// xscreensaver's status property: LOCK (and BLANK) count, 0 does not.
	intern := func(name string) xproto.Atom {
		r, err := xproto.InternAtom(xc, false, uint16(len(name)), name).Reply()
		if err != nil {
			t.Fatal(err)
		}
		return r.Atom
	}
	status := intern("_SCREENSAVER_STATUS")
	set := func(first xproto.Atom) {
		data := make([]byte, 12)
		xgb.Put32(data, uint32(first))
		xgb.Put32(data[4:], uint32(time.Now().Unix()))
		if err := xproto.ChangePropertyChecked(xc, xproto.PropModeReplace, root, status, xproto.AtomInteger, 32, 3, data).Check(); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		first xproto.Atom
		want  bool
	}{{intern("LOCK"), true}, {0, false}, {intern("BLANK"), true}, {intern("UNRELATED"), false}} {
		set(tc.first)
		if got := locked(); got != tc.want {
			t.Errorf("_SCREENSAVER_STATUS first atom %d: locked=%v, want %v", tc.first, got, tc.want)
		}
	}
}
