package agent

import (
	"fmt"
	"os"
	"os/user"
	"runtime"
	"strings"

	"github.com/vigil-cc/vigil/platform/sessions"
	"github.com/vigil-cc/vigil/protocol"
)

// Version is the agent's version, sent in hello. Release builds set it with
// -ldflags "-X github.com/vigil-cc/vigil/agent.Version=1.2.3".
var Version = "0.1.0-dev"

// Machine is this machine's host name and OS as hello carries them.
func Machine() (host, osName string, err error) {
	if host, err = hostName(); err != nil {
		return "", "", err
	}
	osName, err = thisOS()
	return host, osName, err
}

// hostName is this machine's name as the protocol allows it: characters
// outside [A-Za-z0-9._-] become '-', at most 253 characters.
func hostName() (string, error) {
	h, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("reading the host name: %w", err)
	}
	s := sanitize(h, protocol.MaxHostLen, '-', func(c byte) bool {
		return isAlnum(c) || c == '.' || c == '_' || c == '-'
	})
	if s == "" {
		return "", fmt.Errorf("the host name is empty")
	}
	return s, nil
}

// thisOS is the protocol's name for this operating system.
func thisOS() (string, error) {
	switch runtime.GOOS {
	case "linux":
		return protocol.OSLinux, nil
	case "windows":
		return protocol.OSWindows, nil
	case "darwin":
		return protocol.OSDarwin, nil
	}
	return "", fmt.Errorf("the agent does not support %s", runtime.GOOS)
}

// OSUser is the user running the agent (on Windows DOMAIN\user).
func OSUser() (string, error) {
	u, err := user.Current()
	if err != nil {
		return "", fmt.Errorf("finding the current user: %w", err)
	}
	if u.Username == "" {
		return "", fmt.Errorf("the current user (uid %s) has no name", u.Uid)
	}
	return u.Username, nil
}

// SessionID names the desktop session: $XDG_SESSION_ID (logind) as
// "xdg:N", else the X display as "display:N", else the session the OS says
// this process runs in (Windows: "wts-N", sessions.Own). Characters the
// protocol does not allow become '_'. lookup is os.LookupEnv outside
// tests.
func SessionID(lookup func(string) (string, bool), display string) (string, error) {
	return sessionID(lookup, display, sessions.Own)
}

// sessionID decides; own asks the OS.
func sessionID(lookup func(string) (string, bool), display string, own func() (string, error)) (string, error) {
	if v, ok := lookup("XDG_SESSION_ID"); ok && v != "" {
		return sanitizeSession("xdg:" + v), nil
	}
	if display == "" {
		display, _ = lookup("DISPLAY")
	}
	if display != "" {
		if !strings.HasPrefix(display, ":") {
			display = ":" + display
		}
		return sanitizeSession("display" + display), nil
	}
	if id, err := own(); err == nil && id != "" {
		return sanitizeSession(id), nil
	}
	return "", fmt.Errorf("cannot name the desktop session: neither XDG_SESSION_ID nor DISPLAY is set (give --session-id)")
}

func sanitizeSession(s string) string {
	return sanitize(s, protocol.MaxSessionLen, '_', func(c byte) bool {
		return isAlnum(c) || c == '.' || c == '_' || c == ':' || c == '-'
	})
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// sanitize replaces bytes that ok refuses with repl and cuts s to maxLen
// bytes.
func sanitize(s string, maxLen int, repl byte, ok func(byte) bool) string {
	b := []byte(s)
	for i, c := range b {
		if !ok(c) {
			b[i] = repl
		}
	}
	if len(b) > maxLen {
		b = b[:maxLen]
	}
	return string(b)
}
