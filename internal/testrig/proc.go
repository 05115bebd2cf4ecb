//go:build linux

package testrig

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// proc is a child started in its own process group with stdout and stderr in
// a log file, so it and everything it spawns can be stopped together.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{} // closed once the leader has been waited for
	err  error         // the leader's exit status, valid after done
}

// startProc starts cmd in a new process group with output to logPath.
func startProc(name string, cmd *exec.Cmd, logPath string) (*proc, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("creating %s log: %w", name, err)
	}
	defer f.Close() // the child holds its own copy
	cmd.Stdout, cmd.Stderr = f, f
	// Pdeathsig kills the leader if the test binary dies without cleanup
	// (e.g. a -timeout panic), so no Xvfb outlives it and holds a display.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// exited reports whether the leader has exited, and how.
func (p *proc) exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// stop asks the whole group to terminate, kills it after grace, and waits
// until no live process of the group remains. It returns an error naming
// leftovers.
func (p *proc) stop(grace time.Duration) error {
	pgid := p.pid()
	if done, _ := p.exited(); !done {
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(grace):
		}
	}
	// Children may outlive the leader; they are in the same group. Only
	// signal while the group has members: an empty group's id could be
	// reused.
	if len(groupMembers(pgid)) > 0 {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
	<-p.done
	last, ok := Poll(5*time.Second, func() (bool, string) {
		left := groupMembers(pgid)
		return len(left) == 0, fmt.Sprint(left)
	})
	if !ok {
		return fmt.Errorf("stopping %s: processes of group %d still alive: %s", p.name, pgid, last)
	}
	return nil
}

// groupMembers lists live (non-zombie) processes in process group pgid as
// "pid:comm". Zombies are ignored: they are dead, and reaping orphans is
// init's job.
func groupMembers(pgid int) []string {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // exited meanwhile
		}
		// Fields after the parenthesised comm: state ppid pgrp ...
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 3 || f[0] == "Z" || f[0] == "X" || f[2] != strconv.Itoa(pgid) {
			continue
		}
		comm := string(b[bytes.IndexByte(b, '(')+1 : i])
		out = append(out, e.Name()+":"+comm)
	}
	return out
}

// stopOnCleanup registers p.stop with t; a failure to stop is a test error.
func stopOnCleanup(t testing.TB, p *proc, grace time.Duration) {
	t.Cleanup(func() {
		if err := p.stop(grace); err != nil {
			t.Errorf("%v", err)
		}
	})
}

// launch starts cmd as name (startProc, output to logPath), stops it at
// t's cleanup (SIGKILL 5 s after SIGTERM), and waits until ready reports
// it is up, failing early if it exits; the error says what ready last saw.
func launch(t testing.TB, name string, cmd *exec.Cmd, logPath string, ready func() (bool, string)) (*proc, error) {
	p, err := startProc(name, cmd, logPath)
	if err != nil {
		return nil, err
	}
	stopOnCleanup(t, p, 5*time.Second)
	last, ok := Poll(startTimeout, func() (bool, string) {
		if done, err := p.exited(); done {
			return false, fmt.Sprintf("%s exited: %v", name, err)
		}
		return ready()
	})
	if !ok {
		return p, fmt.Errorf("waiting for %s: %s", name, last)
	}
	return p, nil
}

// tail returns the last lines of a log file for failure messages, leaving
// out lines that contain any of skip (known noise).
func tail(path string, skip ...string) string {
	const maxBytes, maxLines = 4096, 25
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(reading log: %v)", err)
	}
	if len(b) > maxBytes {
		b = b[len(b)-maxBytes:]
	}
	var lines []string
next:
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		for _, s := range skip {
			if strings.Contains(l, s) {
				continue next
			}
		}
		lines = append(lines, l)
	}
	if len(lines) > maxLines {
		lines = lines[len(lines)-maxLines:]
	}
	return fmt.Sprintf("--- %s (tail) ---\n%s\n---", path, strings.Join(lines, "\n"))
}

// runTimeout bounds short-lived helper commands, so a wedged server fails the
// test instead of hanging it until the global -timeout.
const runTimeout = 30 * time.Second

// run runs a short-lived command with env appended to the test's environment
// and returns its trimmed stdout; the error includes stderr.
func run(env []string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return strings.TrimSpace(stdout.String()), fmt.Errorf("running %s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// Terminate stops cmd, a child whose Wait closes exited: unless it has
// exited already, it sends SIGTERM and waits up to grace, then kills it.
// signaled is whether SIGTERM was sent; inTime is false if it had to be
// killed.
func Terminate(cmd *exec.Cmd, exited <-chan struct{}, grace time.Duration) (signaled, inTime bool) {
	select {
	case <-exited:
		return false, true
	default:
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
		return true, true
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-exited
		return true, false
	}
}
