//go:build linux

package testrig

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

// Bus is a private D-Bus session bus daemon.
type Bus struct {
	Address string // unix:path=...
	LogDir  string // dbus-daemon.log
}

// SessionBus starts a private dbus-daemon with the session configuration
// on a socket of its own, and waits until it answers. Cleanup stops it.
func SessionBus(t testing.TB) *Bus {
	t.Helper()
	Require(t, "dbus-daemon")
	logDir := t.TempDir()
	// A short directory: unix socket paths are limited to 107 bytes.
	dir, err := os.MkdirTemp("", "vigil-bus-")
	if err != nil {
		t.Fatalf("creating the bus directory: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	b := &Bus{Address: "unix:path=" + filepath.Join(dir, "bus"), LogDir: logDir}
	logPath := filepath.Join(logDir, "dbus-daemon.log")
	cmd := exec.Command("dbus-daemon", "--session", "--nofork", "--nopidfile", "--nosyslog", "--address="+b.Address)
	if _, err := launch(t, "dbus-daemon", cmd, logPath, func() (bool, string) {
		c, err := dbus.Connect(b.Address)
		if err != nil {
			return false, err.Error()
		}
		c.Close()
		return true, ""
	}); err != nil {
		t.Fatalf("%v\n%s", err, tail(logPath))
	}
	return b
}

// Env points a child process at this bus.
func (b *Bus) Env() []string {
	return []string{"DBUS_SESSION_BUS_ADDRESS=" + b.Address}
}

// Notification is one call a notification server received.
type Notification struct {
	At      time.Time
	Method  string // "Notify" or "CloseNotification"
	ID      uint32 // the notification's id (returned by Notify, or closed)
	Replace uint32 // Notify's replaces_id
	App     string
	Summary string
	Body    string
	Urgency byte  // hint "urgency": 0 low, 1 normal, 2 critical; 1 when absent
	Expire  int32 // expire_timeout in ms: -1 the server's default, 0 never
}

// Notifications is a minimal org.freedesktop.Notifications server on a bus,
// recording every call: a stand-in for the desktop's notification daemon.
type Notifications struct {
	conn *dbus.Conn

	mu     sync.Mutex
	calls  []Notification
	nextID uint32
	open   map[uint32]bool
}

// NotificationServer exports org.freedesktop.Notifications on bus.
func NotificationServer(t testing.TB, b *Bus) *Notifications {
	t.Helper()
	conn, err := dbus.Connect(b.Address)
	if err != nil {
		t.Fatalf("connecting to the test bus: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	n := &Notifications{conn: conn, open: map[uint32]bool{}}
	const path, iface = "/org/freedesktop/Notifications", "org.freedesktop.Notifications"
	if err := conn.Export(notificationMethods{n}, path, iface); err != nil {
		t.Fatalf("exporting the notification server: %v", err)
	}
	reply, err := conn.RequestName(iface, dbus.NameFlagDoNotQueue)
	if err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("owning %s on the test bus: %v %v", iface, reply, err)
	}
	return n
}

// Calls returns every call so far.
func (n *Notifications) Calls() []Notification {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]Notification(nil), n.calls...)
}

// Open is how many notifications are on screen.
func (n *Notifications) Open() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.open)
}

// notificationMethods holds the exported D-Bus methods (and nothing else,
// since godbus exports every method of the value).
type notificationMethods struct{ n *Notifications }

func (m notificationMethods) Notify(app string, replaces uint32, icon, summary, body string,
	actions []string, hints map[string]dbus.Variant, expire int32) (uint32, *dbus.Error) {
	n := m.n
	n.mu.Lock()
	defer n.mu.Unlock()
	id := replaces
	if id == 0 || !n.open[id] {
		n.nextID++
		id = n.nextID
	}
	n.open[id] = true
	urgency := byte(1)
	if v, ok := hints["urgency"]; ok {
		if u, ok := v.Value().(byte); ok {
			urgency = u
		}
	}
	n.calls = append(n.calls, Notification{At: time.Now(), Method: "Notify", ID: id, Replace: replaces,
		App: app, Summary: summary, Body: body, Urgency: urgency, Expire: expire})
	return id, nil
}

func (m notificationMethods) CloseNotification(id uint32) *dbus.Error {
	n := m.n
	n.mu.Lock()
	delete(n.open, id)
	n.calls = append(n.calls, Notification{At: time.Now(), Method: "CloseNotification", ID: id})
	n.mu.Unlock()
	// 3: closed by a call to CloseNotification.
	_ = n.conn.Emit("/org/freedesktop/Notifications", "org.freedesktop.Notifications.NotificationClosed", id, uint32(3))
	return nil
}

func (m notificationMethods) GetCapabilities() ([]string, *dbus.Error) {
	return []string{"body"}, nil
}

func (m notificationMethods) GetServerInformation() (string, string, string, string, *dbus.Error) {
	return "vigil-testrig", "vigil", "1", "1.2", nil
}
