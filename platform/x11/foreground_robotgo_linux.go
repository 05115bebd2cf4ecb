//go:build cgo

package x11

/*
#cgo LDFLAGS: -lX11
#include <X11/Xlib.h>

// Xlib's default error handler prints and exits the process. robotgo reads
// properties of the window it believes active: when no window is active it
// falls back to the input focus, which is often PointerRoot (window id 1),
// and reading a property of that is a BadWindow error; the active window
// may also be destroyed between two of its calls. Either would kill the
// agent. Ignore protocol errors instead: the failing call returns nothing.
static int vigilIgnoreXError(Display *d, XErrorEvent *e) { return 0; }
static void vigilInstallXErrorHandler(void) { XSetErrorHandler(vigilIgnoreXError); }
*/
import "C"

import (
	"sync"

	"github.com/go-vgo/robotgo"
	"github.com/jezek/xgb/xproto"
)

// robotgoInvalid is what robotgo.GetTitle returns when it finds no valid
// active window (none active, or one without _NET_WM_PID). It is never a
// title.
const robotgoInvalid = "is_valid failed."

// robotgoMu serialises every robotgo call: its C code keeps the current
// window in a global and swaps Xlib's global error handler.
var (
	robotgoMu   sync.Mutex
	handlerOnce sync.Once
)

// robotgoForeground asks robotgo for the active window's pid and title.
//
// robotgo is consulted only when EWMH reports a different active window or
// title than last time, and its answer is cached: every robotgo window call
// opens and closes several X connections, and GetTitle leaks its C string,
// so calling it on every poll would cost a connection storm and memory
// growing with uptime. With the cache both are bounded by the number of
// focus and title changes.
type robotgoForeground struct {
	mu    sync.Mutex
	key   fgKey
	title string
	pid   int
	ok    bool
}

type fgKey struct {
	win   xproto.Window
	title string
	pid   int
}

func newRobotgoForeground() *robotgoForeground { return &robotgoForeground{} }

// foreground returns the active window's title and pid: robotgo's when it
// sees the same window EWMH reported (same window id before and after its
// calls), EWMH's otherwise (focus changed meanwhile, or a window without
// _NET_WM_PID, which robotgo treats as invalid).
func (c *Conn) foreground(active xproto.Window, ewmhTitle string, ewmhPID int) (string, int) {
	f := c.fg
	if f == nil {
		return ewmhTitle, ewmhPID
	}
	key := fgKey{active, ewmhTitle, ewmhPID}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ok && f.key == key {
		return f.title, f.pid
	}
	title, pid, ok := robotgoActive(active)
	if !ok {
		return ewmhTitle, ewmhPID
	}
	f.key, f.title, f.pid, f.ok = key, title, pid, true
	return title, pid
}

// robotgoActive reads the active window's title and pid through robotgo,
// and reports whether robotgo was looking at window want throughout.
func robotgoActive(want xproto.Window) (title string, pid int, ok bool) {
	robotgoMu.Lock()
	defer robotgoMu.Unlock()
	handlerOnce.Do(func() { C.vigilInstallXErrorHandler() })
	// IsValid first: it loads robotgo's atoms, without which GetHandle
	// reports no window.
	if !robotgo.IsValid() || xproto.Window(robotgo.GetHandle()) != want {
		return "", 0, false
	}
	pid = robotgo.GetPid()
	title = robotgo.GetTitle()
	if xproto.Window(robotgo.GetHandle()) != want || pid == 0 || title == robotgoInvalid {
		return "", 0, false
	}
	return title, pid, true
}
