// Package sensors holds the portable half of the workstation sensors: the
// reading they produce, the decisions made from raw desktop state (is the
// Agent Desk in front, is it minimized), the microphone's voice activity
// detector, and the microphone component that runs it. Nothing here calls
// the operating system; the per-OS bindings live under platform/ and are
// handed in through the small interfaces declared here (Desktop,
// FrameSource).
//
// Privacy: window titles and audio samples enter this package only to be
// decided on. They are never stored in a Reading, never formatted into an
// error, and never logged.
package sensors

import (
	"regexp"
	"time"
)

// Reading is one snapshot of every sensor in a desktop session.
//
// The first six fields are all that may leave the workstation (never a
// title, keystroke or audio sample; docs/agent-sensors.md). The
// local-only fields are for the local diagnostics (vigil-agent doctor) and
// carry `json:"-"`, so marshalling a Reading can never send them.
type Reading struct {
	// IdleMs is the time since the last keyboard or mouse input in the
	// session, in milliseconds.
	IdleMs int64 `json:"idle_ms"`
	// AgentDeskForeground: the foreground window is the Agent Desk (for a
	// browser: the browser window in front shows the Agent Desk tab).
	AgentDeskForeground bool `json:"agent_desk_foreground"`
	// AgentDeskMinimized: some Agent Desk window is minimized (hidden,
	// iconic) and none is in front.
	AgentDeskMinimized bool `json:"agent_desk_minimized"`
	// ScreenLocked: the screen is locked or blanked (see the platform's
	// documentation for what it can detect).
	ScreenLocked bool `json:"screen_locked"`
	// MicAvailable: a microphone is open and delivering audio.
	MicAvailable bool `json:"mic_available"`
	// Voice: speech above the noise floor right now (see VAD).
	Voice bool `json:"voice"`

	// ForegroundPID is the process id owning the foreground window, 0 if
	// none or unknown. LOCAL ONLY: never sent to the coordinator.
	ForegroundPID int `json:"-"`
	// MicDBFS is the microphone level in dBFS (SilenceDBFS when nothing was
	// measured). LOCAL ONLY: never sent to the coordinator.
	MicDBFS float64 `json:"-"`
	// At is when IdleMs was read, on the clock ReadDesktop was given.
	// LOCAL ONLY.
	At time.Time `json:"-"`
}

// Desktop is the operating system's view of one interactive desktop
// session: input idle time, the top-level windows and the lock state. The
// per-OS implementations live under platform/ (platform/x11 on Linux).
type Desktop interface {
	// Idle is the time since the last keyboard or mouse input.
	Idle() (time.Duration, error)
	// Windows lists the session's top-level windows and says which one is
	// in front.
	Windows() (WindowList, error)
	// ScreenLocked reports whether the screen is locked or blanked.
	ScreenLocked() (bool, error)
}

// ReadDesktop takes the desktop half of a Reading: idle time (stamped At
// now() right after it was read), Agent Desk in front and minimized
// (windows whose title matches agentDesk, see DecideWindows), screen lock
// and the foreground pid. The mic fields are left zero. The first error
// stops the reading; errors come from the platform and never contain a
// window title. The agent's Sampler and vigil-agent doctor both read the
// desktop with it.
func ReadDesktop(d Desktop, agentDesk *regexp.Regexp, now func() time.Time) (Reading, error) {
	var r Reading
	idle, err := d.Idle()
	if err != nil {
		return r, err
	}
	r.At, r.IdleMs = now(), max(idle, 0).Milliseconds()
	wl, err := d.Windows()
	if err != nil {
		return r, err
	}
	r.AgentDeskForeground, r.AgentDeskMinimized = DecideWindows(agentDesk, wl)
	if wl.Foreground != nil {
		r.ForegroundPID = wl.Foreground.PID
	}
	if r.ScreenLocked, err = d.ScreenLocked(); err != nil {
		return r, err
	}
	return r, nil
}
