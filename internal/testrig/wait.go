package testrig

import (
	"testing"
	"time"
)

const pollInterval = 20 * time.Millisecond

// Eventually polls cond until it reports true, failing the test if that does
// not happen within timeout. cond's message describes the current state (or
// what is awaited); the last one is shown on failure. Use it instead of
// sleeping before asserting.
func Eventually(t testing.TB, timeout time.Duration, cond func() (ok bool, state string)) {
	t.Helper()
	if last, ok := Poll(timeout, cond); !ok {
		t.Fatalf("condition not met within %v: %s", timeout, last)
	}
}

// Poll is Eventually for a test that goes on when cond is not met (to try
// again, say): it calls cond every 20 ms until it reports true (returning
// true) or timeout passes (returning false and cond's last message). The
// last call happens after the deadline, so a slow cond still gets a final
// say.
func Poll(timeout time.Duration, cond func() (bool, string)) (string, bool) {
	deadline := time.Now().Add(timeout)
	for {
		ok, msg := cond()
		if ok {
			return msg, true
		}
		if time.Now().After(deadline) {
			return msg, false
		}
		time.Sleep(pollInterval)
	}
}
