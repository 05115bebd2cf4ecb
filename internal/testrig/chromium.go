//go:build linux

package testrig

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
)

// Browser is a Chromium window on an X display.
type Browser struct {
	Pid         int    // the browser process (the leader of its process group)
	Window      string // its top-level X window id, usable with xdotool
	DevToolsURL string // ws://127.0.0.1:PORT/devtools/browser/ID, for chromedp
	LogDir      string // chromium.log; the profile is in LogDir/profile
}

var devToolsLine = regexp.MustCompile(`DevTools listening on (ws://\S+)`)

// Chromium starts Debian's chromium (a real window, not headless) on x
// showing url, and waits for its DevTools endpoint and its window. Cleanup
// stops the browser and all its helper processes.
func Chromium(t testing.TB, x *X, url string) *Browser {
	t.Helper()
	Require(t, "chromium")
	dir := t.TempDir()
	profile, home := filepath.Join(dir, "profile"), filepath.Join(dir, "home")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatalf("creating Chromium home: %v", err)
	}
	logPath := filepath.Join(dir, "chromium.log")

	cmd := exec.Command("chromium",
		"--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-background-networking", "--disable-component-update",
		"--disable-sync", "--disable-default-apps", "--no-default-browser-check",
		"--password-store=basic",
		"--user-data-dir="+profile,
		// Port 0: Chromium picks a free port and prints it, so parallel
		// browsers never collide.
		"--remote-debugging-port=0",
		// Without this Chromium would pick Wayland when WAYLAND_DISPLAY is
		// set (a developer's desktop) and never appear on our display.
		"--ozone-platform=x11",
		url,
	)
	// HOME and TMPDIR are private too: Chromium writes ~/.pki and ~/.cache
	// outside the profile, and leaves its org.chromium.Chromium.* singleton
	// directories in TMPDIR. An unusable DBUS_SESSION_BUS_ADDRESS keeps it
	// from autolaunching a session bus that would outlive the test.
	cmd.Env = append(os.Environ(), x.Env()...)
	cmd.Env = append(cmd.Env, "HOME="+home, "TMPDIR="+home,
		"XDG_CONFIG_HOME="+filepath.Join(home, ".config"), "XDG_CACHE_HOME="+filepath.Join(home, ".cache"),
		"DBUS_SESSION_BUS_ADDRESS=disabled:")
	// Chromium saves its profile on SIGTERM; launch gives it 5 s before
	// SIGKILL.
	b := &Browser{LogDir: dir}
	if _, err := launch(t, "chromium", cmd, logPath, func() (bool, string) {
		b.Pid = cmd.Process.Pid
		if b.DevToolsURL == "" {
			logText, _ := os.ReadFile(logPath)
			m := devToolsLine.FindSubmatch(logText)
			if m == nil {
				return false, "no DevTools line in chromium's output yet"
			}
			b.DevToolsURL = string(m[1])
		}
		clients, err := x.Clients()
		if err != nil {
			return false, err.Error()
		}
		for _, c := range clients {
			if c.Pid == b.Pid {
				b.Window = c.Window
				return true, ""
			}
		}
		return false, fmt.Sprintf("no window of pid %d among clients %+v", b.Pid, clients)
	}); err != nil {
		// Without a session bus Chromium logs D-Bus errors all the time.
		t.Fatalf("%v (display %s)\n%s", err, x.Name, tail(logPath, "ERROR:dbus/"))
	}
	return b
}
