//go:build !windows

package win32

import (
	"time"

	"github.com/vigil-cc/vigil/sensors"
)

// Desktop is a Windows interactive session (not available on this system).
type Desktop struct{}

// Open returns ErrUnsupported on this system.
func Open() (*Desktop, error) { return nil, ErrUnsupported }

// Idle returns ErrUnsupported.
func (d *Desktop) Idle() (time.Duration, error) { return 0, ErrUnsupported }

// Windows returns ErrUnsupported.
func (d *Desktop) Windows() (sensors.WindowList, error) { return sensors.WindowList{}, ErrUnsupported }

// ScreenLocked returns ErrUnsupported.
func (d *Desktop) ScreenLocked() (bool, error) { return false, ErrUnsupported }

// Close does nothing.
func (d *Desktop) Close() {}
