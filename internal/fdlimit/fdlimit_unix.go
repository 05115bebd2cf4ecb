//go:build unix

package fdlimit

import (
	"fmt"
	"syscall"
)

func raise() (Limit, bool, error) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return Limit{}, true, fmt.Errorf("reading the open-file limit: %w", err)
	}
	l := Limit{Was: uint64(r.Cur), Now: uint64(r.Cur)}
	if r.Cur >= r.Max {
		return l, true, nil
	}
	r.Cur = r.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return l, true, fmt.Errorf("raising the open-file limit from %d to %d: %w", l.Was, uint64(r.Max), err)
	}
	l.Now = uint64(r.Max)
	return l, true, nil
}
