package sessions

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// Find scans /proc for processes with a DISPLAY (the approach of fleet's
// orbit, which works with or without systemd-logind).
func Find() ([]Session, error) {
	return FindIn("/proc")
}

// FindIn scans a proc file system at root.
func FindIn(root string) ([]Session, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("listing processes: %w", err)
	}
	var procs []Proc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		dir := filepath.Join(root, e.Name())
		var st syscall.Stat_t
		if syscall.Stat(dir, &st) != nil {
			continue // gone
		}
		raw, err := os.ReadFile(filepath.Join(dir, "environ"))
		if err != nil || len(raw) == 0 {
			continue // gone, or a kernel thread
		}
		var environ []string
		for kv := range bytes.SplitSeq(bytes.TrimRight(raw, "\x00"), []byte{0}) {
			environ = append(environ, string(kv))
		}
		procs = append(procs, Proc{PID: pid, UID: st.Uid, Environ: environ})
	}
	found := FromProcs(procs)
	for i, s := range found {
		if u, err := user.LookupId(strconv.FormatUint(uint64(s.UID), 10)); err == nil {
			found[i].User = u.Username
		}
	}
	return found, nil
}

// Own: on Linux the session is named from the environment
// (XDG_SESSION_ID, DISPLAY), not from the process.
func Own() (string, error) {
	return "", errors.New("no session id from the process on Linux")
}
