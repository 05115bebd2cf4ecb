package account

import (
	"os"
	"testing"

	"github.com/vigil-cc/vigil/internal/pgtest"
)

// TestMain stops the package's PostgreSQL (VIGIL_TEST_STORE=postgres) after
// its tests.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
