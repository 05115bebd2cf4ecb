// Package notify shows desktop notifications: on Linux through the
// freedesktop.org notification service (org.freedesktop.Notifications on
// the D-Bus session bus), which every desktop environment runs; on Windows
// in a small topmost window of its own that does not take the focus
// (WindowTitle, notify_windows.go). Elsewhere it returns ErrUnsupported
// for now.
//
// A Client connects on first use and again after the bus went away, at
// most every RetryEvery, so an agent started before the desktop's
// notification service keeps trying without spinning.
package notify

import (
	"errors"
	"time"
)

// ErrNoService means there is no session bus to reach a notification
// service through (no DBUS_SESSION_BUS_ADDRESS and no
// $XDG_RUNTIME_DIR/bus), as on a server or in CI.
var ErrNoService = errors.New("no desktop notification service: no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is unset and $XDG_RUNTIME_DIR/bus does not exist)")

// ErrUnsupported is returned where notifications are not implemented yet.
var ErrUnsupported = errors.New("desktop notifications are not implemented on this system yet")

// RetryEvery is how often a Client without a bus tries to connect again.
const RetryEvery = 30 * time.Second

// The D-Bus names of the notification service.
const (
	Service   = "org.freedesktop.Notifications"
	Path      = "/org/freedesktop/Notifications"
	Interface = "org.freedesktop.Notifications"
)
