package builtin

import (
	"strings"
	"time"

	"github.com/vigil-cc/vigil/coordinator/engine"
)

// Candidate is a user the router may give a conversation to.
type Candidate struct {
	User      string
	Capacity  int       // open conversations the user takes at most
	Load      int       // open conversations the user has (assigned or active)
	LastEnded time.Time // when the user's last conversation ended; zero: never
}

// Pick chooses who gets the next conversation: among the candidates with
// room (Load < Capacity), the least loaded; a tie goes to the one whose last
// conversation ended longest ago (never counts as longest ago), then to the
// first name in byte order, so the choice is deterministic. ok is false when
// nobody has room. The caller passes only available users.
func Pick(cands []Candidate) (user string, ok bool) {
	best := -1
	for i, c := range cands {
		if c.Load >= c.Capacity {
			continue
		}
		if best < 0 || better(c, cands[best]) {
			best = i
		}
	}
	if best < 0 {
		return "", false
	}
	return cands[best].User, true
}

func better(a, b Candidate) bool {
	if a.Load != b.Load {
		return a.Load < b.Load
	}
	if !a.LastEnded.Equal(b.LastEnded) {
		return a.LastEnded.Before(b.LastEnded)
	}
	return strings.Compare(a.User, b.User) < 0
}

// holds reports whether a user in status s keeps their conversations: they
// are logged in to the Agent Desk and not logged out. A warned user keeps
// what they have but gets nothing new.
func holds(s engine.Status) bool {
	switch s {
	case engine.StatusActive, engine.StatusPaused, engine.StatusDisabled, engine.StatusWarned:
		return true
	}
	return false
}

// available reports whether a user in status s may be given conversations:
// logged in to the Agent Desk, neither warned nor logged out. Paused users
// (on a call, Agent Desk minimized) are available; their capacity limits
// them. With the feature disabled everyone logged in is available.
func available(s engine.Status) bool {
	return holds(s) && s != engine.StatusWarned
}
