package x11

import (
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"sync"
	"time"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/screensaver"
	"github.com/jezek/xgb/xproto"
)

func init() {
	// xgb logs to stderr on its own (e.g. a missing .Xauthority, which is
	// normal for Xvfb). Logger is a package global, so it is set once here
	// rather than per Connect, where concurrent connects would race on it.
	xgb.Logger = log.New(io.Discard, "", 0)
}

// extInitMu serialises xgb extension initialisation (see Connect).
var extInitMu sync.Mutex

// Conn is a connection to one X display. Its methods are safe for
// concurrent use.
type Conn struct {
	display string
	x       *xgb.Conn
	root    xproto.Window

	atomMu sync.Mutex
	atoms  map[string]xproto.Atom

	// win caches Windows and ScreenLocked between X property changes (see
	// events_linux.go).
	win winCache

	// fg is the cgo build's robotgo path for the active window (nil when
	// robotgo cannot serve this display); see foreground.
	fg *robotgoForeground
}

// Connect opens the display named like ":3" (empty means $DISPLAY) and
// prepares the MIT-SCREEN-SAVER extension.
func Connect(display string) (*Conn, error) {
	x, err := xgb.NewConnDisplay(display)
	if err != nil {
		return nil, fmt.Errorf("connecting to X display %q: %w", display, err)
	}
	err = initScreensaver(x)
	if err != nil {
		x.Close()
		return nil, fmt.Errorf("initialising MIT-SCREEN-SAVER on display %q: %w", display, err)
	}
	root := xproto.Setup(x).DefaultScreen(x).Root
	c := &Conn{display: display, x: x, root: root, atoms: map[string]xproto.Atom{}}
	// robotgo opens $DISPLAY itself, so it can only speak for this display
	// when that is the one we were asked for.
	if env := os.Getenv("DISPLAY"); env != "" && (display == "" || display == env) {
		c.fg = newRobotgoForeground()
	}
	return c, nil
}

// initScreensaver is screensaver.Init, except that it writes xgb's
// process-global event and error tables only where they lack an entry.
// Those tables have no lock: concurrent Connects would race on them (hence
// extInitMu), and so would every live connection's reader, which looks
// events up there (connections receive PropertyNotify events, see
// events_linux.go). The entries are the same for every connection to
// servers with the same extension numbering, so after the first Connect
// nothing is written.
func initScreensaver(x *xgb.Conn) error {
	reply, err := xproto.QueryExtension(x, 16, "MIT-SCREEN-SAVER").Reply()
	switch {
	case err != nil:
		return err
	case !reply.Present:
		return errors.New("no extension named MIT-SCREEN-SAVER on the server")
	}
	x.ExtLock.Lock()
	x.Extensions["MIT-SCREEN-SAVER"] = reply.MajorOpcode
	x.ExtLock.Unlock()
	extInitMu.Lock()
	defer extInitMu.Unlock()
	for evNum, fun := range xgb.NewExtEventFuncs["MIT-SCREEN-SAVER"] {
		if _, ok := xgb.NewEventFuncs[int(reply.FirstEvent)+evNum]; !ok {
			xgb.NewEventFuncs[int(reply.FirstEvent)+evNum] = fun
		}
	}
	for errNum, fun := range xgb.NewExtErrorFuncs["MIT-SCREEN-SAVER"] {
		if _, ok := xgb.NewErrorFuncs[int(reply.FirstError)+errNum]; !ok {
			xgb.NewErrorFuncs[int(reply.FirstError)+errNum] = fun
		}
	}
	return nil
}

// IdleMs returns the milliseconds since the last user input (keyboard,
// pointer, including synthetic XTEST input) on the display.
func (c *Conn) IdleMs() (uint32, error) {
	info, err := c.saverInfo()
	if err == nil {
		// A round trip: every event the server sent before this reply is
		// queued now (see syncEvents).
		c.win.mu.Lock()
		c.win.saver, c.win.saverAt = info, time.Now()
		c.win.mu.Unlock()
	}
	c.drainEvents()
	if err != nil {
		return 0, fmt.Errorf("querying idle time on X display %q: %w", c.display, err)
	}
	return info.MsSinceUserInput, nil
}

// Idle is IdleMs as a duration (sensors.Desktop).
func (c *Conn) Idle() (time.Duration, error) {
	ms, err := c.IdleMs()
	return time.Duration(ms) * time.Millisecond, err
}

func (c *Conn) saverInfo() (*screensaver.QueryInfoReply, error) {
	return screensaver.QueryInfo(c.x, xproto.Drawable(c.root)).Reply()
}

// Close closes the connection.
func (c *Conn) Close() {
	c.x.Close()
}
