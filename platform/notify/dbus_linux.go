package notify

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/godbus/dbus/v5"
)

// Client talks to the notification service. Its methods are safe for
// concurrent use.
type Client struct {
	// AppName is the application name shown with the notifications.
	AppName string
	// Address is the bus address; empty: $DBUS_SESSION_BUS_ADDRESS, else
	// unix:path=$XDG_RUNTIME_DIR/bus if that exists. A session bus is
	// never launched.
	Address string
	// Now is the clock for RetryEvery; nil: time.Now.
	Now func() time.Time

	mu      sync.Mutex
	conn    *dbus.Conn
	lastTry time.Time
	lastErr error
}

// sessionAddress finds the session bus without autolaunching one.
func sessionAddress() string {
	if a := os.Getenv("DBUS_SESSION_BUS_ADDRESS"); a != "" && a != "autolaunch:" {
		return a
	}
	if dir := os.Getenv("XDG_RUNTIME_DIR"); dir != "" {
		p := filepath.Join(dir, "bus")
		if fi, err := os.Stat(p); err == nil && fi.Mode().Type() == os.ModeSocket {
			return "unix:path=" + p
		}
	}
	return ""
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// bus returns a live connection, connecting if needed (at most every
// RetryEvery after a failure).
func (c *Client) bus() (*dbus.Conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil && c.conn.Connected() {
		return c.conn, nil
	}
	if c.conn != nil {
		_ = c.conn.Close()
		c.conn = nil
	}
	if !c.lastTry.IsZero() && c.now().Sub(c.lastTry) < RetryEvery {
		return nil, c.lastErr
	}
	c.lastTry = c.now()
	addr := c.Address
	if addr == "" {
		addr = sessionAddress()
	}
	if addr == "" {
		c.lastErr = ErrNoService
		return nil, c.lastErr
	}
	conn, err := dbus.Connect(addr)
	if err != nil {
		c.lastErr = fmt.Errorf("connecting to the D-Bus session bus: %w", err)
		return nil, c.lastErr
	}
	c.conn, c.lastErr = conn, nil
	return conn, nil
}

// Notify shows a notification (org.freedesktop.Notifications.Notify),
// replacing notification replaces in place when it is not 0, and returns
// its id. An urgent notification has critical urgency and never expires by
// itself; others expire after the service's default time.
func (c *Client) Notify(ctx context.Context, replaces uint32, summary, body string, urgent bool) (uint32, error) {
	conn, err := c.bus()
	if err != nil {
		return 0, err
	}
	urgency, expire := byte(1), int32(-1) // normal; the server's default timeout
	if urgent {
		urgency, expire = 2, 0 // critical; never expires
	}
	hints := map[string]dbus.Variant{"urgency": dbus.MakeVariant(urgency)}
	var id uint32
	err = conn.Object(Service, Path).CallWithContext(ctx, Interface+".Notify", 0,
		c.AppName, replaces, "", summary, body, []string{}, hints, expire).Store(&id)
	if err != nil {
		return 0, fmt.Errorf("showing a notification: %w", err)
	}
	return id, nil
}

// CloseNotification removes a notification
// (org.freedesktop.Notifications.CloseNotification).
func (c *Client) CloseNotification(ctx context.Context, id uint32) error {
	conn, err := c.bus()
	if err != nil {
		return err
	}
	if err := conn.Object(Service, Path).CallWithContext(ctx, Interface+".CloseNotification", 0, id).Err; err != nil {
		return fmt.Errorf("closing notification %d: %w", id, err)
	}
	return nil
}

// Close disconnects from the bus.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		return nil
	}
	err := c.conn.Close()
	c.conn = nil
	return err
}
