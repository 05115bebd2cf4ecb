package builtin

import (
	"slices"
	"time"

	"github.com/vigil-cc/vigil/coordinator/engine"
	"github.com/vigil-cc/vigil/coordinator/store"
)

// startCalls takes the engine's call state as what the controller told it,
// so the first sync makes the engine agree with the stored conversations
// (the built-in desk owns call state).
func (c *Controller) startCalls() {
	c.core.View(func(e *engine.Engine) {
		for _, s := range e.Snapshots() {
			if s.Call {
				c.onCall[s.User] = true
			}
		}
	})
}

// onCallIn reports whether cv puts its user on a call.
func onCallIn(cv *store.Conversation) bool {
	return cv.State == store.ConversationActive && cv.User != "" && (cv.Channel == ChannelVoice || cv.Channel == ChannelVideo)
}

// syncCalls tells the engine who is on a call now, where that changed.
// Called locked: the controller's lock comes before the core's.
func (c *Controller) syncCalls() {
	want := map[string]bool{}
	for _, cv := range c.convs {
		if onCallIn(cv) {
			want[cv.User] = true
		}
	}
	var users []string
	for u := range want {
		users = append(users, u)
	}
	for u := range c.onCall {
		if !want[u] {
			users = append(users, u)
		}
	}
	slices.Sort(users)
	for _, u := range users {
		active := want[u]
		if c.onCall[u] == active {
			continue
		}
		c.core.Do(u, func(e *engine.Engine, now time.Time) []engine.Decision { return e.Call(now, u, active) })
		if active {
			c.onCall[u] = true
		} else {
			delete(c.onCall, u)
		}
	}
}
