//go:build linux

package service

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"syscall"
	"time"

	"github.com/vigil-cc/vigil/platform/sessions"
)

// HelperCommand starts bin with HelperArgs (reporting to unix://socket)
// in a desktop session as the session's user: its uid, primary group and
// supplementary groups, with the session's DISPLAY and XAUTHORITY and the
// user's HOME, USER, LOGNAME and XDG_RUNTIME_DIR (if it exists). The
// helper's output goes to out (the service's log).
func HelperCommand(bin, socket string, args []string, out io.Writer) func(sessions.Session) (Process, error) {
	return func(s sessions.Session) (Process, error) {
		u, err := user.LookupId(strconv.FormatUint(uint64(s.UID), 10))
		if err != nil {
			return nil, fmt.Errorf("looking up uid %d: %w", s.UID, err)
		}
		gid, err := strconv.ParseUint(u.Gid, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("user %s: bad gid %q", u.Username, u.Gid)
		}
		var groups []uint32
		if gids, err := u.GroupIds(); err == nil {
			for _, g := range gids {
				if n, err := strconv.ParseUint(g, 10, 32); err == nil {
					groups = append(groups, uint32(n))
				}
			}
		}
		cmd := exec.Command(bin, HelperArgs("unix://"+socket, s, args)...)
		cmd.Env = []string{
			"PATH=/usr/local/bin:/usr/bin:/bin",
			"DISPLAY=" + s.Display,
			"HOME=" + u.HomeDir,
			"USER=" + u.Username,
			"LOGNAME=" + u.Username,
			sessions.HelperEnv + "=1",
		}
		if s.XAuthority != "" {
			cmd.Env = append(cmd.Env, "XAUTHORITY="+s.XAuthority)
		}
		rt := "/run/user/" + strconv.FormatUint(uint64(s.UID), 10)
		if fi, err := os.Stat(rt); err == nil && fi.IsDir() {
			cmd.Env = append(cmd.Env, "XDG_RUNTIME_DIR="+rt)
		}
		cmd.Dir = "/"
		if fi, err := os.Stat(u.HomeDir); err == nil && fi.IsDir() {
			cmd.Dir = u.HomeDir
		}
		cmd.Stdout, cmd.Stderr = out, out
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Credential: &syscall.Credential{Uid: s.UID, Gid: uint32(gid), Groups: groups},
			Setsid:     true,
			Pdeathsig:  syscall.SIGTERM, // the service died: so do its helpers
		}
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("starting the helper as %s: %w", u.Username, err)
		}
		p := &proc{cmd: cmd, done: make(chan struct{})}
		go func() {
			p.err = cmd.Wait()
			close(p.done)
		}()
		return p, nil
	}
}

type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

func (p *proc) Pid() int { return p.cmd.Process.Pid }

func (p *proc) Wait() error {
	<-p.done
	return p.err
}

func (p *proc) Stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}
