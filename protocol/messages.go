package protocol

// Message type names: the value of the "type" member.
const (
	TypeHello          = "hello"
	TypeSessionOpen    = "session_open"
	TypeReading        = "reading"
	TypeHeartbeat      = "heartbeat"
	TypeSessionClose   = "session_close"
	TypePolicy         = "policy"
	TypeWarn           = "warn"
	TypeWithdraw       = "withdraw"
	TypeLoggedOut      = "logged_out"
	TypeSessionRefused = "session_refused"
	TypeError          = "error"
)

// Values of Hello.OS.
const (
	OSLinux   = "linux"
	OSWindows = "windows"
	OSDarwin  = "darwin"
)

// Values of Withdraw.Reason: why a pending warning no longer applies.
const (
	ReasonDismissed  = "dismissed"   // the agent dismissed the warning
	ReasonPaused     = "paused"      // enforcement paused for this user/session
	ReasonSettings   = "settings"    // the policy changed
	ReasonDisabled   = "disabled"    // enforcement disabled
	ReasonDeskLogout = "desk_logout" // the agent logged out of Agent Desk
)

// Values of SessionRefused.Reason.
const (
	// RefusedUserBound: the agent's local service refuses a helper that
	// claims another local user's session. The coordinator accepts every
	// live session of a user (it no longer sends this since several
	// sessions per user are allowed; DESIGN §1, Identity).
	RefusedUserBound = "user_bound"
	// RefusedTooManySessions: the connection (the coordinator's limit per
	// connection) or the local user (the agent service's limit per OS
	// user) has as many sessions open as allowed. Only this session is
	// refused; the connection and its other sessions carry on.
	RefusedTooManySessions = "too_many_sessions"
)

// ReasonInactivity is the only value of LoggedOut.Reason.
const ReasonInactivity = "inactivity"

// Field limits. Lengths are in characters (Unicode code points); fields
// restricted to ASCII therefore have the same limit in bytes.
const (
	MaxAgentVersionLen = 64
	MaxHostLen         = 253
	MaxSessionLen      = 64
	MaxOSUserLen       = 256
	MaxTitlePatternLen = 512
	MaxErrorMessageLen = 256

	// MaxIdleMS is the largest idle_ms: 366 days.
	MaxIdleMS int64 = 366 * 24 * 60 * 60 * 1000

	MinTimeoutS   = 30
	MaxTimeoutS   = 3600
	MinHeartbeatS = 5
	MaxHeartbeatS = 300

	// MaxTimeMS bounds every unix-millisecond timestamp
	// (9999-12-31T23:59:59.999Z). Timestamps must be at least 1.
	MaxTimeMS int64 = 253402300799999
)

// ---- agent → coordinator ----

// Hello is the first message an agent sends on a connection.
type Hello struct {
	AgentVersion string `json:"agent_version"` // 1..64 printable ASCII characters
	OS           string `json:"os"`            // OSLinux, OSWindows or OSDarwin
	Host         string `json:"host"`          // 1..253 characters of [A-Za-z0-9._-]
}

// SessionOpen announces a desktop session on the device. A connection can
// carry several sessions.
type SessionOpen struct {
	Session string `json:"session"` // 1..64 characters of [A-Za-z0-9._:-]
	OSUser  string `json:"os_user"` // 1..256 characters, no control characters
}

// Reading is a complete, fresh reading of one session's sensors. The agent
// sends one after session_open, after every reconnect, and whenever any of
// the values changes (idle_ms changes when input happened, i.e. it dropped).
type Reading struct {
	Session             string `json:"session"`
	IdleMS              int64  `json:"idle_ms"` // 0..MaxIdleMS
	AgentDeskForeground bool   `json:"agent_desk_foreground"`
	AgentDeskMinimized  bool   `json:"agent_desk_minimized"`
	ScreenLocked        bool   `json:"screen_locked"`
	MicAvailable        bool   `json:"mic_available"`
	Voice               bool   `json:"voice"`
}

// Heartbeat says a session's sensors are alive and nothing changed. It
// deliberately carries no idle time: the coordinator infers input only from
// readings.
type Heartbeat struct {
	Session string `json:"session"`
}

// SessionClose says a desktop session ended.
type SessionClose struct {
	Session string `json:"session"`
}

// ---- coordinator → agent ----

// Policy is the enforcement policy for the device's sessions.
type Policy struct {
	Enabled      bool   `json:"enabled"`
	TimeoutS     int    `json:"timeout_s"`      // MinTimeoutS..MaxTimeoutS
	WarnAtS      int    `json:"warn_at_s"`      // 1..TimeoutS-1 (the coordinator sends 0.8·TimeoutS)
	TitlePattern string `json:"title_pattern"`  // RE2 syntax, 1..512 characters, must compile
	HeartbeatS   int    `json:"heartbeat_s"`    // MinHeartbeatS..MaxHeartbeatS
	ServerTimeMS int64  `json:"server_time_ms"` // coordinator's clock, unix ms
}

// Warn tells the agent that a session will be logged out at DeadlineMS
// unless something changes. The agent counts down DeadlineMS-ServerTimeMS
// from receipt, which is immune to clock skew between the two machines.
type Warn struct {
	Session      string `json:"session"`
	DeadlineMS   int64  `json:"deadline_ms"`    // unix ms, >= ServerTimeMS
	ServerTimeMS int64  `json:"server_time_ms"` // unix ms
}

// Withdraw cancels a pending warning for a session.
type Withdraw struct {
	Session string `json:"session"`
	Reason  string `json:"reason"` // one of the Reason* constants except ReasonInactivity
}

// LoggedOut says the coordinator logged the session's user out of Agent Desk.
type LoggedOut struct {
	Session string `json:"session"`
	Reason  string `json:"reason"` // ReasonInactivity
	AtMS    int64  `json:"at_ms"`  // unix ms
}

// SessionRefused says the coordinator takes no readings for a session. The
// connection and its other sessions carry on; the agent stops reporting for
// this one and may open it again later.
type SessionRefused struct {
	Session string `json:"session"`
	Reason  string `json:"reason"` // RefusedUserBound, RefusedTooManySessions
}

// ErrorMessage is the "error" message the coordinator sends right before it
// closes the connection with close code Code. (It is distinct from [Error],
// the Go error type of this package; see [NewErrorMessage].)
type ErrorMessage struct {
	Code    int    `json:"code"`    // a WebSocket close code that may be sent
	Message string `json:"message"` // 0..256 characters, no control characters
}

// Type implements Message.
func (Hello) Type() string          { return TypeHello }
func (SessionOpen) Type() string    { return TypeSessionOpen }
func (Reading) Type() string        { return TypeReading }
func (Heartbeat) Type() string      { return TypeHeartbeat }
func (SessionClose) Type() string   { return TypeSessionClose }
func (Policy) Type() string         { return TypePolicy }
func (Warn) Type() string           { return TypeWarn }
func (Withdraw) Type() string       { return TypeWithdraw }
func (LoggedOut) Type() string      { return TypeLoggedOut }
func (SessionRefused) Type() string { return TypeSessionRefused }
func (ErrorMessage) Type() string   { return TypeError }

// Direction implements Message.
func (Hello) Direction() Direction          { return FromAgent }
func (SessionOpen) Direction() Direction    { return FromAgent }
func (Reading) Direction() Direction        { return FromAgent }
func (Heartbeat) Direction() Direction      { return FromAgent }
func (SessionClose) Direction() Direction   { return FromAgent }
func (Policy) Direction() Direction         { return FromCoordinator }
func (Warn) Direction() Direction           { return FromCoordinator }
func (Withdraw) Direction() Direction       { return FromCoordinator }
func (LoggedOut) Direction() Direction      { return FromCoordinator }
func (SessionRefused) Direction() Direction { return FromCoordinator }
func (ErrorMessage) Direction() Direction   { return FromCoordinator }

// Validate implements Message.
func (m Hello) Validate() error {
	return first(
		checkPrintable(TypeHello, fAgentVersion, m.AgentVersion),
		checkEnum(TypeHello, fOS, m.OS),
		checkHost(TypeHello, m.Host),
	)
}

// Validate implements Message.
func (m SessionOpen) Validate() error {
	return first(
		checkSession(TypeSessionOpen, m.Session),
		checkText(TypeSessionOpen, fOSUser, m.OSUser, 1, MaxOSUserLen),
	)
}

// Validate implements Message.
func (m Reading) Validate() error {
	return first(
		checkSession(TypeReading, m.Session),
		checkRange(TypeReading, fIdleMS, m.IdleMS, 0, MaxIdleMS),
	)
}

// Validate implements Message.
func (m Heartbeat) Validate() error { return checkSession(TypeHeartbeat, m.Session) }

// Validate implements Message.
func (m SessionClose) Validate() error { return checkSession(TypeSessionClose, m.Session) }

// Validate implements Message.
func (m Policy) Validate() error {
	if err := checkRange(TypePolicy, fTimeoutS, int64(m.TimeoutS), MinTimeoutS, MaxTimeoutS); err != nil {
		return err
	}
	if m.WarnAtS <= 0 || m.WarnAtS >= m.TimeoutS {
		return fieldError(TypePolicy, fWarnAtS, "must be an integer in 1..timeout_s-1 (1..%d), got %d",
			m.TimeoutS-1, m.WarnAtS)
	}
	return first(
		checkPattern(m.TitlePattern),
		checkRange(TypePolicy, fHeartbeatS, int64(m.HeartbeatS), MinHeartbeatS, MaxHeartbeatS),
		checkRange(TypePolicy, fServerTimeMS, m.ServerTimeMS, 1, MaxTimeMS),
	)
}

// Validate implements Message.
func (m Warn) Validate() error {
	if err := first(
		checkSession(TypeWarn, m.Session),
		checkRange(TypeWarn, fDeadlineMS, m.DeadlineMS, 1, MaxTimeMS),
		checkRange(TypeWarn, fServerTimeMS, m.ServerTimeMS, 1, MaxTimeMS),
	); err != nil {
		return err
	}
	if m.DeadlineMS < m.ServerTimeMS {
		return fieldError(TypeWarn, fDeadlineMS, "must not be before server_time_ms (%d), got %d",
			m.ServerTimeMS, m.DeadlineMS)
	}
	return nil
}

// Validate implements Message.
func (m Withdraw) Validate() error {
	return first(
		checkSession(TypeWithdraw, m.Session),
		checkEnum(TypeWithdraw, fWithdrawReason, m.Reason),
	)
}

// Validate implements Message.
func (m LoggedOut) Validate() error {
	return first(
		checkSession(TypeLoggedOut, m.Session),
		checkEnum(TypeLoggedOut, fLoggedOutReason, m.Reason),
		checkRange(TypeLoggedOut, fAtMS, m.AtMS, 1, MaxTimeMS),
	)
}

// Validate implements Message.
func (m SessionRefused) Validate() error {
	return first(
		checkSession(TypeSessionRefused, m.Session),
		checkEnum(TypeSessionRefused, fRefusedReason, m.Reason),
	)
}

// Validate implements Message.
func (m ErrorMessage) Validate() error {
	if !sendableCloseCode(m.Code) {
		return fieldError(TypeError, fCode, "must be %s, got %d", fCode.want, m.Code)
	}
	return checkText(TypeError, fMessage, m.Message, 0, MaxErrorMessageLen)
}

// sendableCloseCode reports whether code may appear in a close frame
// (RFC 6455 section 7.4 and the IANA registry).
func sendableCloseCode(code int) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014, code >= 3000 && code <= 4999:
		return true
	}
	return false
}

// Wire forms: the message plus its "type" member. The typeTag is written on
// encode and ignored on decode (the decoder has already matched the type).

type typeTag string

func (*typeTag) UnmarshalJSON([]byte) error { return nil }

type helloWire struct {
	Type typeTag `json:"type"`
	Hello
}
type sessionOpenWire struct {
	Type typeTag `json:"type"`
	SessionOpen
}
type readingWire struct {
	Type typeTag `json:"type"`
	Reading
}
type heartbeatWire struct {
	Type typeTag `json:"type"`
	Heartbeat
}
type sessionCloseWire struct {
	Type typeTag `json:"type"`
	SessionClose
}
type policyWire struct {
	Type typeTag `json:"type"`
	Policy
}
type warnWire struct {
	Type typeTag `json:"type"`
	Warn
}
type withdrawWire struct {
	Type typeTag `json:"type"`
	Withdraw
}
type loggedOutWire struct {
	Type typeTag `json:"type"`
	LoggedOut
}
type sessionRefusedWire struct {
	Type typeTag `json:"type"`
	SessionRefused
}
type errorWire struct {
	Type typeTag `json:"type"`
	ErrorMessage
}

func (m Hello) wire() any          { return helloWire{TypeHello, m} }
func (m SessionOpen) wire() any    { return sessionOpenWire{TypeSessionOpen, m} }
func (m Reading) wire() any        { return readingWire{TypeReading, m} }
func (m Heartbeat) wire() any      { return heartbeatWire{TypeHeartbeat, m} }
func (m SessionClose) wire() any   { return sessionCloseWire{TypeSessionClose, m} }
func (m Policy) wire() any         { return policyWire{TypePolicy, m} }
func (m Warn) wire() any           { return warnWire{TypeWarn, m} }
func (m Withdraw) wire() any       { return withdrawWire{TypeWithdraw, m} }
func (m LoggedOut) wire() any      { return loggedOutWire{TypeLoggedOut, m} }
func (m SessionRefused) wire() any { return sessionRefusedWire{TypeSessionRefused, m} }
func (m ErrorMessage) wire() any   { return errorWire{TypeError, m} }
