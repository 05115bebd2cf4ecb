package web

import (
	"testing"
	"time"

	"github.com/vigil-cc/vigil/coordinator/engine"
	"github.com/vigil-cc/vigil/coordinator/store"
)

func TestBrokerFansOutWithoutBlocking(t *testing.T) {
	b := newBroker(4)
	all, ann, bob := b.subscribe(""), b.subscribe("ann"), b.subscribe("bob")
	at := time.UnixMilli(1_000_000)
	b.decisions([]engine.Decision{
		{Kind: engine.DecisionWarn, User: "ann", At: at, Deadline: at.Add(6 * time.Second)},
		{Kind: engine.DecisionChanged, User: "ann", At: at, State: engine.State{User: "ann", Status: engine.StatusWarned}},
		{Kind: engine.DecisionSensorLost, User: "ann", At: at}, // no page shows it as an event
	})
	if len(all.ch) != 2 || len(ann.ch) != 2 || len(bob.ch) != 0 {
		t.Fatalf("queued: all %d, ann %d, bob %d; want 2, 2, 0", len(all.ch), len(ann.ch), len(bob.ch))
	}
	if ev := <-ann.ch; ev.kind != evWarn || !ev.deadline.Equal(at.Add(6*time.Second)) {
		t.Fatalf("ann's first event: %+v", ev)
	}

	// Nobody reads "all" any more: the core's handler must still return at
	// once, and the slow subscriber is dropped (its queue closed) while the
	// others keep theirs.
	done := make(chan struct{})
	go func() {
		for i := range 1000 {
			b.decisions([]engine.Decision{{Kind: engine.DecisionWithdraw, User: "bob", At: at.Add(time.Duration(i) * time.Millisecond), Reason: engine.WithdrawDismissed}})
			for len(bob.ch) > 0 {
				<-bob.ch
			}
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("decisions blocked on a subscriber that does not read")
	}
	for range all.ch {
	} // drains what was queued, then ends: closed
	if b.drops != 1 {
		t.Fatalf("drops = %d, want 1 (the dashboard that stopped reading)", b.drops)
	}
	b.unsubscribe(all) // after a drop: a no-op
	b.publish(event{kind: evPolicy})
	if len(bob.ch) != 1 || len(ann.ch) != 2 {
		t.Fatalf("policy event: bob %d, ann %d queued", len(bob.ch), len(ann.ch))
	}

	b.close()
	if _, ok := <-bob.ch; !ok {
		t.Fatal("bob's queued event was lost at close")
	}
	if _, ok := <-bob.ch; ok {
		t.Fatal("bob's queue still open after close")
	}
	if b.subscribe("") != nil {
		t.Fatal("subscribed after close")
	}
}

func TestPolicyText(t *testing.T) {
	for secs, want := range map[int]string{
		30:  "You are logged out after 30 seconds without activity; a warning shows 6 seconds before.",
		60:  "You are logged out after 1 minute without activity; a warning shows 12 seconds before.",
		300: "You are logged out after 5 minutes without activity; a warning shows 60 seconds before.",
		31:  "You are logged out after 31 seconds without activity; a warning shows 6.2 seconds before.",
	} {
		if got := policyText(settingsOf(true, secs)); got != want {
			t.Errorf("T=%d: %q, want %q", secs, got, want)
		}
	}
	if got := policyText(settingsOf(false, 300)); got != "Automatic logout for inactivity is off." {
		t.Errorf("disabled: %q", got)
	}
}

func settingsOf(enabled bool, secs int) store.Settings {
	return store.Settings{Enabled: enabled, TimeoutSeconds: secs, TitlePattern: "^Agent Desk"}
}
