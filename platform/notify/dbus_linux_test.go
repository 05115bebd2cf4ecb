package notify

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/vigil-cc/vigil/internal/testrig"
)

// The real D-Bus path: a private session bus with a notification server.
func TestClientOverDBus(t *testing.T) {
	t.Parallel()
	bus := testrig.SessionBus(t)
	srv := testrig.NotificationServer(t, bus)
	c := &Client{AppName: "Vigil", Address: bus.Address}
	defer c.Close()
	ctx := context.Background()

	id, err := c.Notify(ctx, 0, "Agent Desk", "You will be logged out in 6 seconds due to inactivity", true)
	if err != nil || id == 0 {
		t.Fatalf("Notify: %d %v", id, err)
	}
	id2, err := c.Notify(ctx, id, "Agent Desk", "You will be logged out in 5 seconds due to inactivity", true)
	if err != nil || id2 != id {
		t.Fatalf("Notify replacing %d: %d %v", id, id2, err)
	}
	if err := c.CloseNotification(ctx, id); err != nil {
		t.Fatal(err)
	}
	notice, err := c.Notify(ctx, 0, "Agent Desk", "You were logged out of the Agent Desk due to inactivity", false)
	if err != nil || notice == id {
		t.Fatalf("the notice: %d %v", notice, err)
	}
	calls := srv.Calls()
	if len(calls) != 4 {
		t.Fatalf("%d calls: %+v", len(calls), calls)
	}
	want := []testrig.Notification{
		{Method: "Notify", ID: id, Replace: 0, App: "Vigil", Summary: "Agent Desk", Body: "You will be logged out in 6 seconds due to inactivity", Urgency: 2, Expire: 0},
		{Method: "Notify", ID: id, Replace: id, App: "Vigil", Summary: "Agent Desk", Body: "You will be logged out in 5 seconds due to inactivity", Urgency: 2, Expire: 0},
		{Method: "CloseNotification", ID: id},
		{Method: "Notify", ID: notice, App: "Vigil", Summary: "Agent Desk", Body: "You were logged out of the Agent Desk due to inactivity", Urgency: 1, Expire: -1},
	}
	for i := range want {
		got := calls[i]
		got.At = time.Time{}
		if got != want[i] {
			t.Errorf("call %d: %+v\nwant %+v", i, got, want[i])
		}
	}
	if srv.Open() != 1 {
		t.Errorf("%d notifications open, want the notice", srv.Open())
	}
}

// No bus: ErrNoService, and no new attempt before RetryEvery.
func TestClientWithoutBus(t *testing.T) {
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	now := time.Unix(1000, 0)
	c := &Client{Now: func() time.Time { return now }}
	if _, err := c.Notify(context.Background(), 0, "s", "b", true); !errors.Is(err, ErrNoService) {
		t.Fatalf("Notify without a bus: %v, want ErrNoService", err)
	}
	if err := c.CloseNotification(context.Background(), 1); !errors.Is(err, ErrNoService) {
		t.Fatalf("CloseNotification without a bus: %v", err)
	}

	// A bus that appears later is found after RetryEvery.
	bus := testrig.SessionBus(t)
	testrig.NotificationServer(t, bus)
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", bus.Address)
	if _, err := c.Notify(context.Background(), 0, "s", "b", true); !errors.Is(err, ErrNoService) {
		t.Fatalf("retried before RetryEvery: %v", err)
	}
	now = now.Add(RetryEvery)
	if _, err := c.Notify(context.Background(), 0, "s", "b", true); err != nil {
		t.Fatalf("after RetryEvery: %v", err)
	}
	c.Close()
}
