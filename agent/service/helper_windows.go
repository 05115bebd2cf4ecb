//go:build windows

package service

import (
	"fmt"
	"io"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/vigil-cc/vigil/platform/sessions"
)

// HelperCommand starts the helper windowsLaunch plans in the session's
// interactive desktop (winsta0\default) with the logged-in
// user's token (WTSQueryUserToken + CreateProcessAsUser, as fleet's orbit
// does) and that user's environment block. out is unused: the helper logs
// to its own file.
func HelperCommand(bin, socket string, args []string, _ io.Writer) func(sessions.Session) (Process, error) {
	return func(s sessions.Session) (Process, error) {
		l := windowsLaunch(bin, socket, s, args)
		var tok windows.Token
		if err := windows.WTSQueryUserToken(l.wts, &tok); err != nil {
			return nil, fmt.Errorf("WTSQueryUserToken(session %d, %s): %w", l.wts, l.user, err)
		}
		defer tok.Close()
		var env *uint16
		if err := windows.CreateEnvironmentBlock(&env, tok, false); err != nil {
			return nil, fmt.Errorf("CreateEnvironmentBlock: %w", err)
		}
		defer windows.DestroyEnvironmentBlock(env)
		cmdLine, err := windows.UTF16PtrFromString(windows.ComposeCommandLine(l.argv))
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
			return nil, fmt.Errorf("CreateProcessAsUser(session %d, %s): %w", l.wts, l.user, err)
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
