//go:build windows

package svc

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/vigil-cc/vigil/platform/sessions"
)

// On Windows a sessions.Session's UID carries the WTS session id and its
// ID is "wts-<id>"; Display is unused.

// WTSSessions lists the active interactive sessions (WTSEnumerateSessions,
// state WTSActive; session 0 is the services' own and never interactive).
func WTSSessions() ([]sessions.Session, error) {
	var info *windows.WTS_SESSION_INFO
	var n uint32
	if err := windows.WTSEnumerateSessions(0, 0, 1, &info, &n); err != nil {
		return nil, fmt.Errorf("WTSEnumerateSessions: %w", err)
	}
	defer windows.WTSFreeMemory(uintptr(unsafe.Pointer(info)))
	var out []sessions.Session
	for _, s := range unsafe.Slice(info, n) {
		if s.SessionID == 0 || s.State != windows.WTSActive {
			continue
		}
		out = append(out, sessions.Session{ID: "wts-" + strconv.FormatUint(uint64(s.SessionID), 10), UID: s.SessionID})
	}
	return out, nil
}

// HelperCommand starts `bin session --coordinator unix://socket args...` in
// the session's interactive desktop (winsta0\default) with the logged-in
// user's token (WTSQueryUserToken + CreateProcessAsUser, as fleet's orbit
// does) and that user's environment block. out is unused: the helper logs
// to its own file.
func HelperCommand(bin, socket string, args []string, _ io.Writer) func(sessions.Session) (Process, error) {
	return func(s sessions.Session) (Process, error) {
		var tok windows.Token
		if err := windows.WTSQueryUserToken(s.UID, &tok); err != nil {
			return nil, fmt.Errorf("WTSQueryUserToken(session %d): %w", s.UID, err)
		}
		defer tok.Close()
		var env *uint16
		if err := windows.CreateEnvironmentBlock(&env, tok, false); err != nil {
			return nil, fmt.Errorf("CreateEnvironmentBlock: %w", err)
		}
		defer windows.DestroyEnvironmentBlock(env)
		argv := append([]string{bin, "session", "--coordinator", "unix:///" + filepath.ToSlash(socket)}, args...)
		cmdLine, err := windows.UTF16PtrFromString(windows.ComposeCommandLine(argv))
		if err != nil {
			return nil, err
		}
		desktop, _ := windows.UTF16PtrFromString(`winsta0\default`)
		si := &windows.StartupInfo{Desktop: desktop}
		si.Cb = uint32(unsafe.Sizeof(*si))
		var pi windows.ProcessInformation
		err = windows.CreateProcessAsUser(tok, nil, cmdLine, nil, nil, false,
			windows.CREATE_UNICODE_ENVIRONMENT|windows.CREATE_NO_WINDOW, env, nil, si, &pi)
		if err != nil {
			return nil, fmt.Errorf("CreateProcessAsUser(session %d): %w", s.UID, err)
		}
		windows.CloseHandle(pi.Thread)
		return &winProc{h: pi.Process, pid: int(pi.ProcessId)}, nil
	}
}

type winProc struct {
	h   windows.Handle
	pid int
}

func (p *winProc) Pid() int { return p.pid }

func (p *winProc) Wait() error {
	defer windows.CloseHandle(p.h)
	if _, err := windows.WaitForSingleObject(p.h, windows.INFINITE); err != nil {
		return err
	}
	var code uint32
	if err := windows.GetExitCodeProcess(p.h, &code); err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("exit status %d", code)
	}
	return nil
}

// Stop terminates the helper (Windows has no SIGTERM for a process in
// another session; the service then closes its sessions itself).
func (p *winProc) Stop() { _ = windows.TerminateProcess(p.h, 1) }

// sioAFUnixGetPeerPID is SIO_AF_UNIX_GETPEERPID (_WSAIOR(IOC_VENDOR, 256)).
const sioAFUnixGetPeerPID = 0x58000100

// PeerCred identifies the peer of an AF_UNIX connection: its process id
// (SIO_AF_UNIX_GETPEERPID), then that process's token's user, as
// DOMAIN\user, and its session id as UID.
func PeerCred(c net.Conn) (Peer, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return Peer{}, errors.New("not a Unix socket connection")
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return Peer{}, err
	}
	var pid uint32
	var ioErr error
	if err := raw.Control(func(fd uintptr) {
		var n uint32
		ioErr = windows.WSAIoctl(windows.Handle(fd), sioAFUnixGetPeerPID, nil, 0, (*byte)(unsafe.Pointer(&pid)), 4, &n, nil, 0)
	}); err != nil {
		return Peer{}, err
	}
	if ioErr != nil {
		return Peer{}, fmt.Errorf("SIO_AF_UNIX_GETPEERPID: %w", ioErr)
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
	return Peer{UID: sess, User: domain + `\` + account}, nil
}

// ListenLocal listens on an AF_UNIX socket (Windows 10 1803 and later) in
// a directory under %ProgramData%.
func ListenLocal(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("creating the socket directory: %w", err)
	}
	_ = os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", path, err)
	}
	return ln, nil
}
