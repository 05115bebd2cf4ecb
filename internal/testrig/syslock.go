//go:build linux

package testrig

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// SystemLock serializes tests that change this machine's system state of
// one kind across test binaries (go test runs packages in parallel): it
// holds an exclusive flock on /run/lock/vigil-test-<name>.lock until t's
// cleanup, waiting up to 10 minutes for another holder. "system-service":
// the vigil-agent and vigil-coordinator services, packages and their
// files in /etc, /var/lib/vigil and /run/vigil (the package tests in
// installer/, the service test in cmd/vigil-agent/acceptance).
func SystemLock(t testing.TB, name string) {
	t.Helper()
	dir := "/run/lock"
	if _, err := os.Stat(dir); err != nil {
		dir = os.TempDir()
	}
	path := filepath.Join(dir, "vigil-test-"+name+".lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatalf("opening the lock %s: %v", path, err)
	}
	deadline := time.Now().Add(10 * time.Minute)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if err != syscall.EWOULDBLOCK || time.Now().After(deadline) {
			f.Close()
			t.Fatalf("%v", fmt.Errorf("taking the lock %s: %w", path, err))
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Cleanup(func() { f.Close() }) // closing releases the flock
}
