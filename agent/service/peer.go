package service

import (
	"errors"
	"net"

	"github.com/vigil-cc/vigil/internal/username"
)

// Peer is who is at the other end of a local connection, as the OS says.
type Peer struct {
	// ID names the peer's login in the service's session ids: the uid on
	// Linux, "wts-<session id>" of the peer process on Windows.
	ID   string
	User string // the local account name
}

// SameUser reports whether a helper's claimed OS user is the peer's
// account: case-insensitive, and DOMAIN\user or user@domain match user
// (on either side; Windows peers are DOMAIN\user).
func SameUser(claimed, local string) bool {
	c := username.Bare(claimed)
	return c != "" && c == username.Bare(local)
}

// socketControl runs fn on the file descriptor (socket handle) of a Unix
// socket connection: the per-OS PeerCred reads the peer from it.
func socketControl(c net.Conn, fn func(fd uintptr) error) error {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return errors.New("not a Unix socket connection")
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return err
	}
	var fnErr error
	if err := raw.Control(func(fd uintptr) { fnErr = fn(fd) }); err != nil {
		return err
	}
	return fnErr
}
