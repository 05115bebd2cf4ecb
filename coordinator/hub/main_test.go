package hub_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a goroutine outlives its tests. (The
// package's behaviour is tested through the coordinator's tests, which
// check the same; this catches leaks in tests added here.)
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
