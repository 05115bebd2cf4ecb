// Package x11 reads desktop state from an X server for the sensors: how
// long the user has been idle (MIT-SCREEN-SAVER), which window is in front
// and which windows are minimized (EWMH properties set by the window
// manager, plus robotgo for the active window's pid and title when built
// with cgo), and whether the screen saver or a known locker is active.
//
// It is Linux-only; elsewhere Connect returns ErrUnsupported so that the
// rest of the program still compiles. Nothing here decides anything: the
// decisions (Agent Desk matching, minimized) are sensors.DecideWindows'.
// Window titles are returned to the caller for that decision only; this
// package never logs them or puts them in an error.
package x11

import "errors"

// ErrUnsupported is returned by Connect where X11 sensing is not built.
var ErrUnsupported = errors.New("x11 sensing is only available on Linux")
