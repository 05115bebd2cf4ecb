//go:build linux

package testrig

import (
	"bufio"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/xproto"
)

func init() {
	// xgb logs to stderr on its own (e.g. the missing .Xauthority, normal for
	// Xvfb). Logger is a global: set it once here, not per connection.
	xgb.Logger = log.New(io.Discard, "", 0)
}

// startTimeout bounds how long any rig component may take to become ready.
const startTimeout = 20 * time.Second

// X is a private Xvfb display with openbox managing its windows.
type X struct {
	Name   string // display name, e.g. ":3"
	LogDir string // xvfb.log and openbox.log

	conn *xgb.Conn
	root xproto.Window
}

// Display starts Xvfb on a free display number and openbox on it, and waits
// until the window manager is ready. Cleanup stops both.
func Display(t testing.TB) *X {
	t.Helper()
	Require(t, "Xvfb", "openbox", "xdotool")
	x, err := startDisplay(t)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return x
}

// startDisplay is Display without failing t, so it may run on any goroutine
// (t.TempDir and t.Cleanup are safe there; t.Fatal is not).
func startDisplay(t testing.TB) (*X, error) {
	dir := t.TempDir() // before any stop is registered: cleanups run LIFO
	xvfbLog := filepath.Join(dir, "xvfb.log")

	// -displayfd lets Xvfb pick a free display number itself (atomically, via
	// its lock file) and write it to fd 3 once it accepts connections, so
	// parallel tests never race for a number we picked.
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("creating pipe for Xvfb -displayfd: %w", err)
	}
	defer r.Close()
	// -noreset keeps the server (and its idle clock) from resetting when the
	// last client disconnects.
	cmd := exec.Command("Xvfb", "-displayfd", "3", "-screen", "0", "1280x800x24", "-nolisten", "tcp", "-noreset")
	cmd.ExtraFiles = []*os.File{w}
	xvfb, err := startProc("Xvfb", cmd, xvfbLog)
	w.Close() // only Xvfb writes now; its exit gives us EOF
	if err != nil {
		return nil, err
	}
	stopOnCleanup(t, xvfb, 5*time.Second)

	num, err := readDisplayNumber(r, startTimeout)
	if err != nil {
		return nil, fmt.Errorf("waiting for Xvfb to report its display: %w\n%s", err, tail(xvfbLog))
	}
	x := &X{Name: ":" + num, LogDir: dir}

	x.conn, err = xgb.NewConnDisplay(x.Name)
	if err != nil {
		return nil, fmt.Errorf("connecting to Xvfb %s: %w\n%s", x.Name, err, tail(xvfbLog))
	}
	// Registered after Xvfb's stop, so it runs before it.
	t.Cleanup(x.conn.Close)
	x.root = xproto.Setup(x.conn).DefaultScreen(x.conn).Root

	obLog := filepath.Join(dir, "openbox.log")
	cmd = exec.Command("openbox", "--sm-disable")
	// A private HOME keeps openbox off the user's rc.xml (the system default
	// applies everywhere) and its ~/.cache/openbox log unshared.
	home := filepath.Join(dir, "home")
	cmd.Env = append(os.Environ(), x.Env()...)
	cmd.Env = append(cmd.Env, "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"), "XDG_CACHE_HOME="+filepath.Join(home, ".cache"))
	// openbox sets _NET_SUPPORTING_WM_CHECK on the root window once it
	// manages the screen.
	_, err = launch(t, "openbox", cmd, obLog, func() (bool, string) {
		w, err := x.windowProperty(x.root, "_NET_SUPPORTING_WM_CHECK")
		if err != nil {
			return false, err.Error()
		}
		return len(w) > 0, "no _NET_SUPPORTING_WM_CHECK on the root window yet"
	})
	if err != nil {
		return nil, fmt.Errorf("%w (display %s)\n%s\n%s", err, x.Name, tail(obLog), tail(xvfbLog))
	}
	return x, nil
}

// readDisplayNumber reads the display number Xvfb writes to -displayfd.
func readDisplayNumber(r *os.File, timeout time.Duration) (string, error) {
	if err := r.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return "", fmt.Errorf("setting pipe deadline: %w", err)
	}
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("reading display number (got %q): %w", line, err)
	}
	num := strings.TrimSpace(line)
	if _, err := strconv.Atoi(num); err != nil {
		return "", fmt.Errorf("Xvfb reported display %q, not a number", num)
	}
	return num, nil
}

// Env returns the variables that point a child process at this display, to
// append to os.Environ().
func (x *X) Env() []string {
	return []string{"DISPLAY=" + x.Name}
}

// Xdotool runs xdotool on this display and returns its trimmed output.
func (x *X) Xdotool(args ...string) (string, error) {
	return run(x.Env(), "xdotool", args...)
}

// MustXdotool is Xdotool that fails t on error.
func (x *X) MustXdotool(t testing.TB, args ...string) string {
	t.Helper()
	out, err := x.Xdotool(args...)
	if err != nil {
		t.Fatalf("on display %s: %v", x.Name, err)
	}
	return out
}

// Client is a top-level window managed by the window manager.
type Client struct {
	Window string // X window id in decimal, as xdotool prints and accepts
	Pid    int    // _NET_WM_PID, 0 if unset
	Name   string // _NET_WM_NAME
}

// Clients lists the windows in the window manager's _NET_CLIENT_LIST.
func (x *X) Clients() ([]Client, error) {
	ids, err := x.windowProperty(x.root, "_NET_CLIENT_LIST")
	if err != nil {
		return nil, err
	}
	var out []Client
	for _, id := range ids {
		c := Client{Window: strconv.FormatUint(uint64(id), 10)}
		if pid, err := x.windowProperty(id, "_NET_WM_PID"); err == nil && len(pid) > 0 {
			c.Pid = int(pid[0])
		}
		c.Name, _ = x.stringProperty(id, "_NET_WM_NAME")
		out = append(out, c)
	}
	return out, nil
}

// windowProperty reads a property of 32-bit items (WINDOW, CARDINAL).
func (x *X) windowProperty(w xproto.Window, name string) ([]xproto.Window, error) {
	reply, err := x.property(w, name)
	if err != nil || reply.Format != 32 {
		return nil, err
	}
	out := make([]xproto.Window, 0, reply.ValueLen)
	for i := 0; i+4 <= len(reply.Value); i += 4 {
		out = append(out, xproto.Window(xgb.Get32(reply.Value[i:])))
	}
	return out, nil
}

func (x *X) stringProperty(w xproto.Window, name string) (string, error) {
	reply, err := x.property(w, name)
	if err != nil || reply.Format != 8 {
		return "", err
	}
	return string(reply.Value), nil
}

func (x *X) property(w xproto.Window, name string) (*xproto.GetPropertyReply, error) {
	atom, err := xproto.InternAtom(x.conn, true, uint16(len(name)), name).Reply()
	if err != nil {
		return nil, fmt.Errorf("interning atom %s on %s: %w", name, x.Name, err)
	}
	if atom.Atom == xproto.AtomNone {
		// Nobody has created the atom yet, so no window can have it.
		return &xproto.GetPropertyReply{}, nil
	}
	reply, err := xproto.GetProperty(x.conn, false, w, atom.Atom, xproto.GetPropertyTypeAny, 0, 1<<16).Reply()
	if err != nil {
		return nil, fmt.Errorf("reading %s of window %d on %s: %w", name, w, x.Name, err)
	}
	return reply, nil
}
