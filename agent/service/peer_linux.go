//go:build linux

package service

import (
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// PeerCred is the peer of a Unix socket connection from SO_PEERCRED, with
// its account name from the user database.
func PeerCred(c net.Conn) (Peer, error) {
	var cred *syscall.Ucred
	err := socketControl(c, func(fd uintptr) (err error) {
		cred, err = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
		return err
	})
	if err != nil {
		return Peer{}, fmt.Errorf("reading the peer credentials: %w", err)
	}
	uid := strconv.FormatUint(uint64(cred.Uid), 10)
	u, err := user.LookupId(uid)
	if err != nil {
		return Peer{}, fmt.Errorf("uid %d: %w", cred.Uid, err)
	}
	return Peer{ID: uid, User: u.Username}, nil
}

// ListenLocal listens on the Unix socket path for helpers of any user
// (mode 0666) in a root-owned directory only root can write (0755).
func ListenLocal(path string) (net.Listener, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating the socket directory: %w", err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	_ = os.Remove(path) // a stale socket from a crash
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o666); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}
