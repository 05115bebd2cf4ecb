package agent

import (
	"testing"
	"time"

	"github.com/vigil-cc/vigil/protocol"
)

func TestDecide(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	rules := Rules{Heartbeat: 20 * time.Second, Throttle: time.Second, SameInput: 100 * time.Millisecond}
	// base: sent at 10 s with idle 4 s (input at 6 s), Agent Desk in front.
	base := Observation{At: at(10_000), Idle: ms(4_000), Foreground: true, MicAvailable: true}
	sent := Sent{Reading: base, Last: at(10_000)}
	obs := func(atMS, idleMS int, mod ...func(*Observation)) Observation {
		o := base
		o.At, o.Idle = at(atMS), ms(idleMS)
		for _, f := range mod {
			f(&o)
		}
		return o
	}
	voice := func(o *Observation) { o.Voice = true }
	minimized := func(o *Observation) { o.Minimized, o.Foreground = true, false }
	locked := func(o *Observation) { o.Locked = true }
	noMic := func(o *Observation) { o.MicAvailable = false }
	heartbeatAt := func(last int) Sent { s := sent; s.Last = at(last); return s }

	for _, tc := range []struct {
		name    string
		sent    Sent
		obs     Observation
		warning bool
		want    Action
	}{
		{"first observation on a connection", Sent{}, obs(10_000, 4_000), false, SendReading},
		{"nothing changed, idle grew", sent, obs(10_250, 4_250), false, Nothing},
		{"idle grew a lot: still no change", sent, obs(19_000, 13_000), false, Nothing},
		{"estimate wobbles by 50 ms: same input", sent, obs(10_250, 4_200), false, Nothing},
		{"estimate wobbles by 100 ms: same input", sent, obs(10_250, 4_150), false, Nothing},
		{"voice on: at once", sent, obs(10_100, 4_100, voice), false, SendReading},
		{"voice on, even inside the throttle", Sent{Reading: obs(10_000, 0), Last: at(10_000)}, obs(10_100, 100, voice), false, SendReading},
		{"minimized: at once", sent, obs(10_250, 4_250, minimized), false, SendReading},
		{"screen locked: at once", sent, obs(10_250, 4_250, locked), false, SendReading},
		{"microphone lost: at once", sent, obs(10_250, 4_250, noMic), false, SendReading},

		// Input while no warning shows: at most one reading per second.
		{"first input after a quiet second: at once", sent, obs(11_000, 10), false, SendReading},
		{"input long after the last reading: at once", sent, obs(30_000, 5), false, SendReading},
		{"input 250 ms after an input report: held back", Sent{Reading: obs(10_000, 0), Last: at(10_000)}, obs(10_250, 20), false, Nothing},
		{"input 999 ms after an input report: held back", Sent{Reading: obs(10_000, 0), Last: at(10_000)}, obs(10_999, 10), false, Nothing},
		{"trailing report: the held-back input, 1 s on", Sent{Reading: obs(10_000, 0), Last: at(10_000)}, obs(11_000, 750), false, SendReading},
		{"trailing report even when the user went idle since", Sent{Reading: obs(10_000, 0), Last: at(10_000)}, obs(12_500, 2_200), false, SendReading},
		{"a heartbeat since does not reset the throttle", Sent{Reading: obs(10_000, 0), Last: at(10_900)}, obs(11_000, 10), false, SendReading},

		// While a warning shows input is reported at once.
		{"input while warned: at once", Sent{Reading: obs(10_000, 0), Last: at(10_000)}, obs(10_250, 20), true, SendReading},
		{"no input while warned: nothing", sent, obs(10_250, 4_250), true, Nothing},

		// Heartbeats.
		{"heartbeat due after 20 s of silence", sent, obs(30_000, 24_000), false, SendHeartbeat},
		{"heartbeat not due at 19.75 s", sent, obs(29_750, 23_750), false, Nothing},
		{"heartbeat counted from the last heartbeat", heartbeatAt(30_000), obs(49_750, 43_750), false, Nothing},
		{"next heartbeat", heartbeatAt(30_000), obs(50_000, 44_000), false, SendHeartbeat},
		{"a change wins over a due heartbeat", sent, obs(30_000, 24_000, voice), false, SendReading},
		{"input wins over a due heartbeat", sent, obs(30_000, 100), false, SendReading},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Decide(tc.sent, tc.obs, tc.warning, rules); got != tc.want {
				t.Errorf("Decide = %v, want %v", got, tc.want)
			}
		})
	}
}

// Replaying a stream of samples through Decide, as the agent does: a burst
// of typing gives one reading per second plus a trailing one carrying the
// last keystroke, and an idle user costs only heartbeats.
func TestDecideStream(t *testing.T) {
	rules := DefaultRules()
	t0 := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	var sent Sent
	var readings []protocol.Reading
	var readingTimes []time.Duration
	heartbeats := 0
	lastInput := t0
	// Typing every 100 ms from 5.0 s to 8.3 s; polls every 250 ms for 60 s.
	for tick := time.Duration(0); tick <= 60*time.Second; tick += 250 * time.Millisecond {
		now := t0.Add(tick)
		for k := 5 * time.Second; k <= 8350*time.Millisecond; k += 100 * time.Millisecond {
			if k <= tick {
				lastInput = t0.Add(k)
			}
		}
		o := Observation{At: now, Idle: now.Sub(lastInput), Foreground: true}
		switch Decide(sent, o, false, rules) {
		case SendReading:
			readings = append(readings, o.Reading("1"))
			readingTimes = append(readingTimes, tick)
			sent = Sent{Reading: o, Last: now}
		case SendHeartbeat:
			heartbeats++
			sent.Last = now
		}
	}
	// The first reading at 0, then input reports at 5.0, 6.0, 7.0, 8.0 and
	// the trailing one at 9.0 carrying the last keystroke, at 8.3.
	want := []time.Duration{0, 5 * time.Second, 6 * time.Second, 7 * time.Second, 8 * time.Second, 9 * time.Second}
	if len(readingTimes) != len(want) {
		t.Fatalf("readings at %v, want %v", readingTimes, want)
	}
	for i := range want {
		if readingTimes[i] != want[i] {
			t.Errorf("reading %d at %v, want %v", i, readingTimes[i], want[i])
		}
	}
	last := readings[len(readings)-1]
	if inputAt := t0.Add(readingTimes[len(readingTimes)-1] - time.Duration(last.IdleMS)*time.Millisecond); !inputAt.Equal(t0.Add(8300 * time.Millisecond)) {
		t.Errorf("the trailing reading puts the last input at %v, want 8.3 s", inputAt.Sub(t0))
	}
	// Heartbeats every 20 s after the trailing reading at 9 s: 29, 49.
	if heartbeats != 2 {
		t.Errorf("%d heartbeats, want 2", heartbeats)
	}
}

func TestObservationReading(t *testing.T) {
	o := Observation{Idle: -5 * time.Millisecond, Foreground: true, Voice: true}
	r := o.Reading("display:3")
	want := protocol.Reading{Session: "display:3", IdleMS: 0, AgentDeskForeground: true, Voice: true}
	if r != want {
		t.Errorf("%+v, want %+v", r, want)
	}
	o.Idle = 400 * 24 * time.Hour
	if r := o.Reading("1"); r.IdleMS != protocol.MaxIdleMS {
		t.Errorf("idle of 400 days sent as %d ms, want the maximum %d", r.IdleMS, protocol.MaxIdleMS)
	}
	if err := o.Reading("1").Validate(); err != nil {
		t.Error(err)
	}
}
