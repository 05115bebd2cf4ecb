//go:build unix

package fdlimit

import (
	"syscall"
	"testing"
)

func TestRaiseSetsSoftToHard(t *testing.T) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		t.Fatal(err)
	}
	if r.Max > 1024 {
		// Start low, as a login shell does, and put it back afterwards.
		low := r
		low.Cur = 1024
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r) })
	}
	l, ok, err := Raise()
	if err != nil || !ok {
		t.Fatalf("Raise: ok %v, err %v", ok, err)
	}
	var now syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &now)
	if l.Now != uint64(r.Max) || uint64(now.Cur) != uint64(r.Max) || (r.Max > 1024 && l.Was != 1024) {
		t.Errorf("Raise = %+v, soft limit now %d; want from 1024 to the hard limit %d", l, now.Cur, r.Max)
	}
}
