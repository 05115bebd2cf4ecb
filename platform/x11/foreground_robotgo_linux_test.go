//go:build cgo

package x11

import (
	"fmt"
	"testing"
	"time"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/xproto"

	"github.com/vigil-cc/vigil/internal/testrig"
)

// topLevel creates and maps a window with the given _NET_WM_NAME and, if
// pid > 0, _NET_WM_PID, and waits until the window manager made it active.
func topLevel(t *testing.T, x *testrig.X, xc *xgb.Conn, title string, pid int) xproto.Window {
	t.Helper()
	screen := xproto.Setup(xc).DefaultScreen(xc)
	id, err := xproto.NewWindowId(xc)
	if err != nil {
		t.Fatal(err)
	}
	if err := xproto.CreateWindowChecked(xc, screen.RootDepth, id, screen.Root, 0, 0, 200, 100, 0,
		xproto.WindowClassInputOutput, screen.RootVisual, 0, nil).Check(); err != nil {
		t.Fatal(err)
	}
	intern := func(name string) xproto.Atom {
		r, err := xproto.InternAtom(xc, false, uint16(len(name)), name).Reply()
		if err != nil {
			t.Fatal(err)
		}
		return r.Atom
	}
	xproto.ChangeProperty(xc, xproto.PropModeReplace, id, intern("_NET_WM_NAME"), intern("UTF8_STRING"), 8, uint32(len(title)), []byte(title))
	if pid > 0 {
		b := make([]byte, 4)
		xgb.Put32(b, uint32(pid))
		xproto.ChangeProperty(xc, xproto.PropModeReplace, id, intern("_NET_WM_PID"), xproto.AtomCardinal, 32, 1, b)
	}
	if err := xproto.MapWindowChecked(xc, id).Check(); err != nil {
		t.Fatal(err)
	}
	// Activation asked for before the window manager manages the window is
	// lost, and windowactivate --sync may return before _NET_ACTIVE_WINDOW
	// is set: ask until it is.
	testrig.Eventually(t, 5*time.Second, func() (bool, string) {
		out, err := x.Xdotool("getactivewindow")
		if err == nil && out == fmt.Sprint(id) {
			return true, ""
		}
		_, _ = x.Xdotool("windowactivate", fmt.Sprint(id))
		return false, fmt.Sprintf("active window %q (%v), want %d", out, err, id)
	})
	return id
}

// robotgo, which opens $DISPLAY, agrees with EWMH on the active window's
// title and pid; a window without _NET_WM_PID is invalid to it, and the
// EWMH answer stands.
func TestRobotgoForeground(t *testing.T) {
	x := testrig.Display(t)
	t.Setenv("DISPLAY", x.Name)
	xc, err := xgb.NewConnDisplay(x.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer xc.Close()
	c, err := Connect("")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.fg == nil {
		t.Fatal("robotgo not used although $DISPLAY is the display")
	}

	const title = "Agent Desk ✓ – Ünïcode - Chromium"
	withPID := topLevel(t, x, xc, title, 4242)
	if got, pid, ok := robotgoActive(withPID); !ok || got != title || pid != 4242 {
		t.Fatalf("robotgo: %q %d %v", got, pid, ok)
	}
	testrig.Eventually(t, 5*time.Second, func() (bool, string) {
		wl, err := c.Windows()
		if err != nil {
			return false, err.Error()
		}
		return wl.Foreground != nil && wl.Foreground.Title == title && wl.Foreground.PID == 4242, fmt.Sprintf("%+v", wl.Foreground)
	})
	if c.fg.key.win != withPID || !c.fg.ok {
		t.Errorf("robotgo's answer not cached: %+v", c.fg)
	}

	noPID := topLevel(t, x, xc, "No pid", 0)
	if got, pid, ok := robotgoActive(noPID); ok {
		t.Errorf("robotgo answered for a window without _NET_WM_PID: %q %d", got, pid)
	}
	wl, err := c.Windows()
	if err != nil {
		t.Fatal(err)
	}
	if wl.Foreground == nil || wl.Foreground.Title != "No pid" || wl.Foreground.PID != 0 {
		t.Errorf("EWMH fallback: %+v", wl.Foreground)
	}
	// robotgo asked about a window that is not the active one.
	if _, _, ok := robotgoActive(withPID); ok {
		t.Error("robotgo answered for an inactive window")
	}

	// Nothing active: robotgo's "is_valid failed." never becomes a title.
	x.MustXdotool(t, "windowminimize", "--sync", fmt.Sprint(noPID))
	x.MustXdotool(t, "windowminimize", "--sync", fmt.Sprint(withPID))
	testrig.Eventually(t, 5*time.Second, func() (bool, string) {
		wl, err := c.Windows()
		if err != nil {
			return false, err.Error()
		}
		return wl.Foreground == nil, fmt.Sprintf("%+v", wl.Foreground)
	})
}
