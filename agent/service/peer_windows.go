//go:build windows

package service

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/vigil-cc/vigil/platform/sessions"
)

// sioAFUnixGetPeerPID is SIO_AF_UNIX_GETPEERPID (_WSAIOR(IOC_VENDOR, 256)).
const sioAFUnixGetPeerPID = 0x58000100

// PeerCred identifies the peer of an AF_UNIX connection: its process id
// (SIO_AF_UNIX_GETPEERPID), then that process's token's user, as
// DOMAIN\user, and its WTS session as ID.
func PeerCred(c net.Conn) (Peer, error) {
	var pid uint32
	err := socketControl(c, func(fd uintptr) error {
		var n uint32
		return windows.WSAIoctl(windows.Handle(fd), sioAFUnixGetPeerPID, nil, 0, (*byte)(unsafe.Pointer(&pid)), 4, &n, nil, 0)
	})
	if err != nil {
		return Peer{}, fmt.Errorf("SIO_AF_UNIX_GETPEERPID: %w", err)
	}
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, pid)
	if err != nil {
		return Peer{}, fmt.Errorf("opening peer process %d: %w", pid, err)
	}
	defer windows.CloseHandle(h)
	var tok windows.Token
	if err := windows.OpenProcessToken(h, windows.TOKEN_QUERY, &tok); err != nil {
		return Peer{}, fmt.Errorf("peer process %d's token: %w", pid, err)
	}
	defer tok.Close()
	tu, err := tok.GetTokenUser()
	if err != nil {
		return Peer{}, err
	}
	account, domain, _, err := tu.User.Sid.LookupAccount("")
	if err != nil {
		return Peer{}, err
	}
	var sess uint32
	_ = windows.ProcessIdToSessionId(pid, &sess)
	return Peer{ID: sessions.WTSName(sess), User: domain + `\` + account}, nil
}

// ListenLocal listens on an AF_UNIX socket (Windows 10 1803 and later) in
// a directory under %ProgramData% (SecureDir'd by the caller), open to the
// sessions' users (SocketSDDL).
func ListenLocal(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("creating the socket directory: %w", err)
	}
	_ = os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", path, err)
	}
	if err := secureSocket(path); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}
