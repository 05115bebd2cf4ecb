package pgtest

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// credential is whom the server runs as: as root, the `postgres` user,
// which then owns dir; otherwise the current user (nil).
func credential(dir string) (*credentials, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pgtest: running as root needs the postgres user (Debian's postgresql package): %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return nil, err
	}
	return &credentials{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

type credentials = syscall.Credential

// procAttr runs a process as cred; server: in its own process group, and
// sent SIGQUIT (PostgreSQL's immediate shutdown) if the test process dies
// without Stop.
func procAttr(cred *credentials, server bool) *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Credential: cred}
	if server {
		a.Pdeathsig, a.Setpgid = syscall.SIGQUIT, true
	}
	return a
}
