package coordinator_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a goroutine outlives its tests: every
// coordinator a test starts (internal/coordtest) is stopped in its cleanup,
// which ends the hub, the core, the controller and the HTTP server.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
