package engine

import (
	"fmt"
	"time"
)

// Timeout bounds, as the settings page states them.
const (
	MinTimeout = 30 * time.Second
	MaxTimeout = 3600 * time.Second
)

// Fixed rule parameters (docs/engine.md states each rule).
const (
	// ResumeWindow: input this long before counting resumes (the click or key
	// that brought the Agent Desk back) counts at the resume.
	ResumeWindow = time.Second
	// InputJitter: a sensor's input time is estimated as arrival − idle, so it
	// wobbles with network delay. Only an estimate newer than the last one
	// taken as input by more than this is new input; otherwise a
	// heartbeat-like reading arriving a little late would dismiss a warning
	// nobody answered. The resume rule still sees every estimate, so the
	// click that brought the Agent Desk back always counts.
	InputJitter = 250 * time.Millisecond
	// DefaultHeartbeatGrace: a sensor silent this long is lost.
	DefaultHeartbeatGrace = 45 * time.Second
)

// Settings are the admin's inactivity policy, applied to every user at once.
type Settings struct {
	Enabled bool
	Timeout time.Duration // T: whole seconds in [MinTimeout, MaxTimeout]
}

// Validate reports why s cannot be applied, naming the allowed range.
func (s Settings) Validate() error {
	if s.Timeout%time.Second != 0 || s.Timeout < MinTimeout || s.Timeout > MaxTimeout {
		return fmt.Errorf("inactivity timeout must be a whole number of seconds from %d to %d, got %v",
			int(MinTimeout/time.Second), int(MaxTimeout/time.Second), s.Timeout)
	}
	return nil
}

// WarnAt is the counted inactivity at which the warning shows: 0.8·T.
func (s Settings) WarnAt() time.Duration { return s.Timeout * 4 / 5 }

// Reading is one full sensor report from the user's workstation.
type Reading struct {
	Idle         time.Duration // since the last keyboard/mouse input, as of the report
	Foreground   bool          // the Agent Desk is the foreground window (and its active tab)
	Minimized    bool          // an Agent Desk window exists and is minimized
	Locked       bool          // the screen is locked
	MicAvailable bool
	Voice        bool // speech above the noise floor right now
}

// Source names the desktop session a sensor message comes from: Key is
// unique among the coordinator's sessions (device and session id), Host is
// the workstation's name, for the audit and the dashboard.
type Source struct {
	Key  string `json:"key"`
	Host string `json:"host,omitempty"`
}

// Status is a user's state as the dashboard shows it.
type Status uint8

const (
	StatusOffline   Status = iota // not logged in to the Agent Desk
	StatusActive                  // counting, below the warning point
	StatusWarned                  // the warning shows
	StatusPaused                  // not counted; see Reasons
	StatusDisabled                // the feature is off
	StatusLoggedOut               // logged out for inactivity

	unreported Status = 255 // no state reported yet
)

var statusNames = [...]string{"offline", "active", "warned", "paused", "disabled", "logged_out"}

func (s Status) String() string { return statusNames[s] }

// Reasons says why a clock is paused; several may hold at once.
type Reasons uint8

const (
	ReasonMinimized  Reasons = 1 << iota // Agent Desk minimized
	ReasonNotInFront                     // another window or tab in front (or the page hidden)
	ReasonOnCall                         // on an active voice or video call
)

// Strings lists the reasons by name, for the API and the dashboard.
func (r Reasons) Strings() []string {
	var out []string
	for i, name := range []string{"minimized", "not_in_front", "on_call"} {
		if r&(1<<i) != 0 {
			out = append(out, name)
		}
	}
	return out
}

// SensorStatus is whether the user's workstation sensor speaks for them.
type SensorStatus uint8

const (
	SensorNone  SensorStatus = iota // never connected
	SensorLive                      // heard from within the grace
	SensorStale                     // silent past the grace: its pause reasons are dropped
)

var sensorNames = [...]string{"none", "live", "stale"}

func (s SensorStatus) String() string { return sensorNames[s] }

// State is one user's live state, for the dashboard and the API.
type State struct {
	User         string
	Status       Status
	Reasons      Reasons       // with StatusPaused
	Inactivity   time.Duration // counted inactivity I
	Deadline     time.Time     // with StatusWarned: the logout if nothing changes
	Sensor       SensorStatus  // the desk session's sensor (or any, while there is none)
	LastSeen     time.Time     // that sensor's last message
	Locked       bool
	MicAvailable bool
	DeskHost     string // the desk session's workstation; "" when none
	Sessions     int    // live desktop sessions of the user
}

// DecisionKind says what the engine decided.
type DecisionKind uint8

const (
	// DecisionWarn: show (or update) the warning counting down to Deadline.
	DecisionWarn DecisionKind = iota + 1
	// DecisionWithdraw: take the warning down, for Reason.
	DecisionWithdraw
	// DecisionLogout: end the user's Agent Desk session and reroute their
	// conversations; Timeline tells what led there.
	DecisionLogout
	// DecisionSensorLost: the sensor went silent past the grace; its pause
	// reasons no longer count.
	DecisionSensorLost
	// DecisionChanged: State differs from the last one reported (dashboard).
	DecisionChanged
	// DecisionDeskMoved: the desk session changed from From to To.
	DecisionDeskMoved
)

var decisionNames = [...]string{"", "warn", "withdraw", "logout", "sensor_lost", "changed", "desk_moved"}

func (k DecisionKind) String() string { return decisionNames[k] }

// WithdrawReason says why a warning was taken down; the names are the wire's.
type WithdrawReason uint8

const (
	WithdrawDismissed  WithdrawReason = iota + 1 // keyboard or mouse input
	WithdrawPaused                               // counting paused
	WithdrawSettings                             // a new timeout put I below the warning point
	WithdrawDisabled                             // the feature was turned off
	WithdrawDeskLogout                           // the user left the Agent Desk
)

var withdrawNames = [...]string{"", "dismissed", "paused", "settings", "disabled", "desk_logout"}

func (r WithdrawReason) String() string { return withdrawNames[r] }

// Decision is one thing the caller must act on, in time order.
type Decision struct {
	Kind     DecisionKind
	User     string
	At       time.Time // the instant the rule fired (exact, not when it was processed)
	Deadline time.Time // DecisionWarn
	Reason   WithdrawReason
	State    State    // DecisionChanged
	Timeline []Signal // DecisionLogout
	From, To Source   // DecisionDeskMoved
}
