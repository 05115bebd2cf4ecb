package engine

import "time"

// SignalKind is one change in what the engine knows about a user.
type SignalKind uint8

const (
	SignalDeskLogin SignalKind = iota + 1
	SignalDeskLogout
	SignalInput // keyboard or mouse input that reset the clock
	SignalVoiceOn
	SignalVoiceOff
	SignalMinimized
	SignalRestored
	SignalLeftFront
	SignalInFront
	SignalLocked
	SignalUnlocked
	SignalCallStarted
	SignalCallEnded
	SignalPageHidden
	SignalPageVisible
	SignalSensorLive
	SignalSensorLost
	SignalWarned
	SignalWithdrawn
	SignalEnabled
	SignalDisabled
	SignalTimeoutChanged
	SignalLoggedOut
	SignalDeskMoved
)

var signalNames = [...]string{"",
	"desk_login", "desk_logout", "input", "voice_on", "voice_off",
	"minimized", "restored", "left_front", "in_front", "locked", "unlocked",
	"call_started", "call_ended", "page_hidden", "page_visible",
	"sensor_live", "sensor_lost", "warned", "withdrawn",
	"enabled", "disabled", "timeout_changed", "logged_out", "desk_moved",
}

func (k SignalKind) String() string {
	if int(k) < len(signalNames) {
		return signalNames[k]
	}
	return "unknown"
}

// Signal is one entry of a user's timeline.
type Signal struct {
	At   time.Time
	Kind SignalKind
}

// timelineLen bounds the memory a user costs; a logout's audit needs the last
// activity and what followed, which rarely takes more.
const timelineLen = 16

type signal struct {
	at   int64
	kind SignalKind
}

// timeline is a ring of the newest signals since the clock was last reset.
type timeline struct {
	buf  [timelineLen]signal
	next uint8
	n    uint8
}

func (t *timeline) add(at int64, k SignalKind) {
	t.buf[t.next] = signal{at, k}
	t.next = (t.next + 1) % timelineLen
	if t.n < timelineLen {
		t.n++
	}
}

// restart empties the ring, keeping what led to a reset out of the next story.
func (t *timeline) restart(at int64, k SignalKind) {
	t.n, t.next = 0, 0
	t.add(at, k)
}

// signals returns the ring oldest first.
func (t *timeline) signals() []Signal {
	out := make([]Signal, 0, t.n)
	start := (int(t.next) - int(t.n) + timelineLen) % timelineLen
	for i := range int(t.n) {
		s := t.buf[(start+i)%timelineLen]
		out = append(out, Signal{At: msTime(s.at), Kind: s.kind})
	}
	return out
}

func (t *timeline) load(sigs []Signal) {
	t.n, t.next = 0, 0
	if len(sigs) > timelineLen {
		sigs = sigs[len(sigs)-timelineLen:]
	}
	for _, s := range sigs {
		t.add(s.At.UnixMilli(), s.Kind)
	}
}
