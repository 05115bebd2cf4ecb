// Package sessions finds the interactive desktop sessions on this machine,
// so the agent service can run one sensor helper in each: Find scans /proc
// on Linux (FromProcs decides) and enumerates the WTS sessions on Windows
// (FromWTS decides). Own names the session this process runs in.
package sessions

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// Session is one graphical login.
type Session struct {
	// ID is stable while the session lives: "x11-<uid>-<display>" on
	// Linux, "wts-<session id>" on Windows. It is the helper's
	// --session-id.
	ID string
	// User is the session's account name where the OS says it (Windows:
	// DOMAIN\user); "" where only a uid is known.
	User string

	// Linux (X11).
	UID        uint32
	Display    string // ":0"
	XAuthority string // may be empty (e.g. Xvfb without auth)

	// Windows: the WTS session id.
	WTSID uint32
}

// WTSSession is one session as WTSEnumerateSessions lists it.
type WTSSession struct {
	ID     uint32
	Active bool   // WTSActive: logged in and connected
	User   string // DOMAIN\user; "" if nobody is logged in
}

// WTSName is the session id Windows session n goes by.
func WTSName(n uint32) string { return "wts-" + strconv.FormatUint(uint64(n), 10) }

// FromWTS keeps the interactive sessions: active, and not
// session 0 (the services' own, never interactive).
func FromWTS(list []WTSSession) []Session {
	var out []Session
	for _, w := range list {
		if w.ID == 0 || !w.Active {
			continue
		}
		out = append(out, Session{ID: WTSName(w.ID), User: w.User, WTSID: w.ID})
	}
	return out
}

// Proc is what the scan reads of one process.
type Proc struct {
	PID     int
	UID     uint32
	Environ []string // KEY=value
}

// FirstUserUID: accounts below it are system accounts, which run no
// desktop sessions an agent works in (display managers, root).
const FirstUserUID = 1000

// HelperEnv marks the agent service's own sensor helpers (HelperEnv=1 in
// their environment): they carry the session's DISPLAY but are not what
// keeps a session alive, or a session would never end while its helper runs.
const HelperEnv = "VIGIL_HELPER"

// FromProcs derives the sessions from the processes running in them: every
// user process with DISPLAY set (except the agent's helpers) belongs to
// that user's session on that display. The newest XAUTHORITY seen (highest pid) wins.
func FromProcs(procs []Proc) []Session {
	byKey := map[string]*Session{}
	pids := map[string]int{}
	for _, p := range procs {
		if p.UID < FirstUserUID || env(p.Environ, HelperEnv) != "" {
			continue
		}
		display, ok := localDisplay(env(p.Environ, "DISPLAY"))
		if !ok {
			continue
		}
		xauth := env(p.Environ, "XAUTHORITY")
		id := "x11-" + strconv.FormatUint(uint64(p.UID), 10) + "-" + strings.TrimPrefix(display, ":")
		s := byKey[id]
		if s == nil {
			s = &Session{ID: id, UID: p.UID, Display: display}
			byKey[id] = s
		}
		if xauth != "" && p.PID > pids[id] {
			s.XAuthority, pids[id] = xauth, p.PID
		}
	}
	out := make([]Session, 0, len(byKey))
	for _, s := range byKey {
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b Session) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

func env(environ []string, key string) string {
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, key+"="); ok {
			return v
		}
	}
	return ""
}

// localDisplay returns ":N" for a local display (":N" or ":N.S"). A remote
// DISPLAY (host:N, forwarded over SSH) is not a desk someone sits at.
func localDisplay(d string) (string, bool) {
	rest, ok := strings.CutPrefix(d, ":")
	if !ok {
		return "", false
	}
	num, _, _ := strings.Cut(rest, ".")
	if _, err := strconv.ParseUint(num, 10, 16); err != nil {
		return "", false
	}
	return ":" + num, true
}
