package coordinator_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/vigil-cc/vigil/internal/pgtest"
)

// TestMain fails the package if a goroutine outlives its tests: every
// coordinator a test starts (internal/coordtest) is stopped in its cleanup,
// which ends the hub, the core, the controller and the HTTP server.
// It also stops the package's PostgreSQL (VIGIL_TEST_STORE=postgres).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(pgtest.M(m))
}
