package engine

import (
	"flag"
	"os"
	"testing"
)

// TestMain runs the property tests 2000 times each unless -rapid.checks
// says otherwise: a few hundred runs miss rules that meet only at their
// edges (a desk move in the same instant as a lost sensor, say).
func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "rapid.checks" })
	if !set {
		_ = flag.Set("rapid.checks", "2000")
	}
	os.Exit(m.Run())
}
