//go:build !linux && !windows

package service

import (
	"errors"
	"net"
)

// PeerCred is not implemented on this OS yet (Windows: a named pipe and
// the client's token; macOS: LOCAL_PEERCRED).
func PeerCred(net.Conn) (Peer, error) {
	return Peer{}, errors.New("peer credentials are not supported on this OS yet")
}

// ListenLocal is not implemented on this OS yet.
func ListenLocal(string) (net.Listener, error) {
	return nil, errors.New("the local helper socket is not supported on this OS yet")
}
