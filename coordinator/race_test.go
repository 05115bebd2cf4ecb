//go:build race

package coordinator_test

// raceBuild: the race detector slows the pure-Go SQLite driver about
// twentyfold, so the heaviest attack test scales its flood down.
const raceBuild = true
