//go:build !linux

package x11

import (
	"time"

	"github.com/vigil-cc/vigil/sensors"
)

// Conn is a connection to one X display (not available on this system).
type Conn struct{}

// Connect returns ErrUnsupported on this system.
func Connect(display string) (*Conn, error) { return nil, ErrUnsupported }

// IdleMs returns ErrUnsupported.
func (c *Conn) IdleMs() (uint32, error) { return 0, ErrUnsupported }

// Idle returns ErrUnsupported.
func (c *Conn) Idle() (time.Duration, error) { return 0, ErrUnsupported }

// Windows returns ErrUnsupported.
func (c *Conn) Windows() (sensors.WindowList, error) { return sensors.WindowList{}, ErrUnsupported }

// ScreenLocked returns ErrUnsupported.
func (c *Conn) ScreenLocked() (bool, error) { return false, ErrUnsupported }

// Close does nothing.
func (c *Conn) Close() {}
