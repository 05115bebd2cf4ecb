//go:build linux

package testrig

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Run starts name args... as a client of x (killed if the test binary
// dies, and at cleanup) and returns it.
func (x *X) Run(t testing.TB, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), x.Env()...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

// XMessage opens an xmessage window titled title on x (closed at
// cleanup) and returns its window id once it is mapped.
func (x *X) XMessage(t testing.TB, title string) string {
	t.Helper()
	Require(t, "xmessage")
	x.Run(t, "xmessage", "-title", title, "hello")
	var id string
	Eventually(t, 10*time.Second, func() (bool, string) {
		out, err := x.Xdotool("search", "--name", "^"+title+"$")
		id = out
		return err == nil && out != "", fmt.Sprintf("xdotool search: %q %v", out, err)
	})
	return id
}

// Activate makes window id active and waits until the window manager says
// so. An activation asked for before the window manager manages a new
// window is lost, and windowactivate --sync can return before
// _NET_ACTIVE_WINDOW is set, so it asks again until it is. Activation is
// not input.
func (x *X) Activate(t testing.TB, id string) {
	t.Helper()
	Eventually(t, 10*time.Second, func() (bool, string) {
		out, err := x.Xdotool("getactivewindow")
		if err == nil && out == id {
			return true, ""
		}
		_, _ = x.Xdotool("windowactivate", id)
		return false, fmt.Sprintf("active window %q (%v), want %s", out, err, id)
	})
}

// IdleAt is the X server's idle time and the instant it was read (the
// middle of the call). It asks xprintidle rather than connecting from this
// process: xgb registers extensions in package-level maps, which races
// between parallel tests' connections.
func (x *X) IdleAt(t testing.TB) (time.Duration, time.Time) {
	t.Helper()
	before := time.Now()
	out, err := run(x.Env(), "xprintidle")
	after := time.Now()
	if err != nil {
		t.Fatalf("xprintidle: %v", err)
	}
	ms, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("xprintidle: %q", out)
	}
	return time.Duration(ms) * time.Millisecond, before.Add(after.Sub(before) / 2)
}
