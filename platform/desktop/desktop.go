// Package desktop opens this OS's desktop session backend: X11 on Linux
// (platform/x11), the Windows session on Windows (platform/win32); macOS is
// not written yet.
package desktop

import "github.com/vigil-cc/vigil/sensors"

// Desktop is an open desktop session: sensors.Desktop plus Close.
type Desktop interface {
	sensors.Desktop
	Close()
}
