//go:build !cgo

package x11

import "github.com/jezek/xgb/xproto"

// Without cgo there is no robotgo: the active window's title and pid are
// EWMH's (_NET_WM_NAME, _NET_WM_PID), read by Windows.
type robotgoForeground struct{}

func newRobotgoForeground() *robotgoForeground { return nil }

func (c *Conn) foreground(_ xproto.Window, ewmhTitle string, ewmhPID int) (string, int) {
	return ewmhTitle, ewmhPID
}
