package agent

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a goroutine outlives its tests: each
// agent a test runs is stopped and waited for, and each fake coordinator
// closed, in the test's cleanup.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
