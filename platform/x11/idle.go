// Package x11 reads desktop state from an X server: how long the user has
// been idle, via the MIT-SCREEN-SAVER extension. It is pure Go (jezek/xgb), so
// it needs no X libraries at build time.
package x11

import (
	"fmt"
	"io"
	"log"

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

// Conn is a connection to one X display.
type Conn struct {
	display string
	x       *xgb.Conn
	root    xproto.Window
}

// Connect opens the display named like ":3" (empty means $DISPLAY) and
// prepares the MIT-SCREEN-SAVER extension.
func Connect(display string) (*Conn, error) {
	x, err := xgb.NewConnDisplay(display)
	if err != nil {
		return nil, fmt.Errorf("connecting to X display %q: %w", display, err)
	}
	if err := screensaver.Init(x); err != nil {
		x.Close()
		return nil, fmt.Errorf("initialising MIT-SCREEN-SAVER on display %q: %w", display, err)
	}
	root := xproto.Setup(x).DefaultScreen(x).Root
	return &Conn{display: display, x: x, root: root}, nil
}

// IdleMs returns the milliseconds since the last user input (keyboard,
// pointer, including synthetic XTEST input) on the display.
func (c *Conn) IdleMs() (uint32, error) {
	info, err := screensaver.QueryInfo(c.x, xproto.Drawable(c.root)).Reply()
	if err != nil {
		return 0, fmt.Errorf("querying idle time on X display %q: %w", c.display, err)
	}
	return info.MsSinceUserInput, nil
}

// Close closes the connection.
func (c *Conn) Close() {
	c.x.Close()
}
