package core_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a goroutine outlives its tests: a stopped
// core must leave nothing running.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
