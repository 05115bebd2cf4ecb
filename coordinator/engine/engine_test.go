package engine

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

// base is the test's time zero.
var base = time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)

func at(sec float64) time.Time {
	return base.Add(time.Duration(math.Round(sec*1000)) * time.Millisecond)
}

func secs(t time.Time) string { return fmt.Sprintf("%.3f", t.Sub(base).Seconds()) }

// ev is one scripted event at a time in seconds from base.
type ev struct {
	at        float64
	do        func(e *Engine, now time.Time) []Decision
	isReading bool
}

const alice = "alice"

// pcA and pcB are two workstations with a desktop session of the user.
var pcA, pcB = Source{Key: "dev-a/s1", Host: "pc-a"}, Source{Key: "dev-b/s1", Host: "pc-b"}

func login(sec float64) ev {
	return ev{at: sec, do: func(e *Engine, now time.Time) []Decision { return e.DeskLogin(now, alice) }}
}

func logoutDesk(sec float64) ev {
	return ev{at: sec, do: func(e *Engine, now time.Time) []Decision { return e.DeskLogout(now, alice) }}
}

// read is a sensor reading from pcA at sec whose last input was at input
// seconds; flags: min (minimized), back (not in front), locked, voice.
func read(sec, input float64, flags ...string) ev { return readOn(pcA, sec, input, flags...) }

// readOn is read from the workstation src.
func readOn(src Source, sec, input float64, flags ...string) ev {
	r := Reading{Idle: at(sec).Sub(at(input)), Foreground: true, MicAvailable: true}
	for _, f := range flags {
		switch f {
		case "min":
			r.Minimized, r.Foreground = true, false
		case "back":
			r.Foreground = false
		case "locked":
			r.Locked = true
		case "voice":
			r.Voice = true
		default:
			panic("unknown flag " + f)
		}
	}
	return ev{at: sec, do: func(e *Engine, now time.Time) []Decision { return e.Reading(now, alice, src, r) }, isReading: src == pcA}
}

func heartbeat(sec float64) ev { return heartbeatOn(pcA, sec) }

func heartbeatOn(src Source, sec float64) ev {
	return ev{at: sec, do: func(e *Engine, now time.Time) []Decision { return e.Heartbeat(now, alice, src) }}
}

// every is fn at from, from+step, … before until.
func every(from, step, until float64, fn func(sec float64) ev) []ev {
	var out []ev
	for s := from; s < until; s += step {
		out = append(out, fn(s))
	}
	return out
}

func call(sec float64, on bool) ev {
	return ev{at: sec, do: func(e *Engine, now time.Time) []Decision { return e.Call(now, alice, on) }}
}

func pageInput(sec float64) ev {
	return ev{at: sec, do: func(e *Engine, now time.Time) []Decision { return e.PageInput(now, alice) }}
}

func pageVisible(sec float64, visible bool) ev {
	return ev{at: sec, do: func(e *Engine, now time.Time) []Decision { return e.PageVisibility(now, alice, visible) }}
}

func set(sec float64, enabled bool, timeout int) ev {
	s := Settings{Enabled: enabled, Timeout: time.Duration(timeout) * time.Second}
	return ev{at: sec, do: func(e *Engine, now time.Time) []Decision { return e.SetSettings(now, s) }}
}

// run drives an engine as the coordinator does — one timer for the next
// deadline, events in time order — until the end, and returns its warn,
// withdraw, logout and sensor-lost decisions as "sec kind detail". Unless
// quiet, the sensor heartbeats every 20 s from its first reading on.
func run(t *testing.T, timeout int, events []ev, until float64, quiet bool) []string {
	t.Helper()
	if !quiet && len(events) > 0 {
		first := until
		for _, x := range events {
			if x.isReading {
				first = min(first, x.at)
			}
		}
		for s := first + 20; s < until; s += 20 {
			events = append(events, heartbeat(s))
		}
		slices.SortStableFunc(events, func(a, b ev) int { return cmp.Compare(a.at, b.at) })
	}
	e := New(Settings{Enabled: true, Timeout: time.Duration(timeout) * time.Second}, 45*time.Second)
	var got []string
	collect := func(ds []Decision) {
		for _, d := range ds {
			switch d.Kind {
			case DecisionWarn:
				got = append(got, fmt.Sprintf("%s warn %s", secs(d.At), secs(d.Deadline)))
			case DecisionWithdraw:
				got = append(got, fmt.Sprintf("%s withdraw %s", secs(d.At), d.Reason))
			case DecisionLogout, DecisionSensorLost:
				got = append(got, fmt.Sprintf("%s %s", secs(d.At), d.Kind))
			case DecisionDeskMoved:
				got = append(got, fmt.Sprintf("%s desk_moved %s→%s", secs(d.At), d.From.Host, d.To.Host))
			}
		}
	}
	advanceTo := func(now time.Time) {
		for {
			d, ok := e.NextDeadline()
			if !ok || d.After(now) {
				return
			}
			collect(e.Advance(d))
		}
	}
	for _, x := range events {
		advanceTo(at(x.at))
		collect(x.do(e, at(x.at)))
	}
	advanceTo(at(until))
	return got
}

func TestRules(t *testing.T) {
	tests := []struct {
		name    string
		timeout int
		events  []ev
		until   float64
		quiet   bool // no heartbeats
		want    []string
	}{
		{"warning at 0.8·T, logout at T", 30, []ev{login(0), read(0, 0)}, 100, false, []string{"24.000 warn 30.000", "30.000 logout"}},
		{"T=300 warns at 240 s exactly", 300, []ev{login(0), read(0, 0)}, 400, false, []string{"240.000 warn 300.000", "300.000 logout"}},
		{"minimized 10–17 s freezes the clock, not resets it", 30, []ev{login(0), read(0, 0), read(10, 0, "min"), read(17, 0)}, 100, false, []string{"31.000 warn 37.000", "37.000 logout"}},
		{"another window in front pauses like minimized", 30, []ev{login(0), read(0, 0), read(5, 0, "back"), read(12.5, 0)}, 100, false, []string{"31.500 warn 37.500", "37.500 logout"}},
		{"a locked screen keeps counting even minimized", 30, []ev{login(0), read(0, 0), read(10, 0, "min", "locked")}, 100, false, []string{"24.000 warn 30.000", "30.000 logout"}},
		{"unlocking a minimized desk pauses it", 30, []ev{login(0), read(0, 0), read(10, 0, "min", "locked"), read(20, 0, "min"), read(25, 0)}, 100, false, []string{"29.000 warn 35.000", "35.000 logout"}},
		{"dismissed by a key at 26 s: next warning at 50 s", 30, []ev{login(0), read(0, 0), read(26, 26)}, 100, false, []string{"24.000 warn 30.000", "26.000 withdraw dismissed", "50.000 warn 56.000", "56.000 logout"}},
		{"input reported late resets the clock at the input, not the report", 30, []ev{login(0), read(0, 0), read(12, 10)}, 100, false, []string{"34.000 warn 40.000", "40.000 logout"}},
		{"a reading within the jitter of the known input is not input", 30, []ev{login(0), read(0, 0), read(25, 0.2)}, 100, false, []string{"24.000 warn 30.000", "30.000 logout"}},
		{"disabled at 20 s, re-enabled at 40 s: warning at 64 s", 30, []ev{login(0), read(0, 0), set(20, false, 30), set(40, true, 30)}, 100, false, []string{"64.000 warn 70.000", "70.000 logout"}},
		{"disabling withdraws a showing warning", 30, []ev{login(0), read(0, 0), set(25, false, 30)}, 100, false, []string{"24.000 warn 30.000", "25.000 withdraw disabled"}},
		{"T 300 → 30 at I = 200 s: warning now, logout 0.2·T later", 300, []ev{login(0), read(0, 0), set(200, true, 30)}, 300, false, []string{"200.000 warn 206.000", "206.000 logout"}},
		{"T raised during the warning: withdrawn, warned again at the new point", 30, []ev{login(0), read(0, 0), set(25, true, 60)}, 100, false, []string{"24.000 warn 30.000", "25.000 withdraw settings", "48.000 warn 60.000", "60.000 logout"}},
		// Warned at 80 s (visible 1 s). New T = 50: T−I is past, 0.2·T = 10 s
		// visible is reached at 80 + 10 = 90 s.
		{"T lowered during the warning: logout at the later of T−I and 0.2·T visible", 100, []ev{login(0), read(0, 0), set(81, true, 50)}, 200, false, []string{"80.000 warn 100.000", "81.000 warn 90.000", "90.000 logout"}},
		// I = 26 and 2 s visible at the pause: logout at max(30−26, 6−2) = 4 s after the resume.
		{"paused during the warning: withdrawn, shown again at the resume", 30, []ev{login(0), read(0, 0), read(26, 0, "min"), read(40, 0)}, 100, false, []string{"24.000 warn 30.000", "26.000 withdraw paused", "40.000 warn 44.000", "44.000 logout"}},
		{"the key that brought the desk back (0.5 s before) counts at the resume", 30, []ev{login(0), read(0, 0), read(5, 0, "min"), read(15, 14.5)}, 100, false, []string{"39.000 warn 45.000", "45.000 logout"}},
		{"input 2 s before the resume does not count", 30, []ev{login(0), read(0, 0), read(5, 0, "min"), read(13, 13, "min"), read(15, 13)}, 100, false, []string{"34.000 warn 40.000", "40.000 logout"}},
		{"input while minimized does nothing", 30, []ev{login(0), read(0, 0), read(5, 0, "min"), read(10, 10, "min"), read(20, 10)}, 100, false, []string{"39.000 warn 45.000", "45.000 logout"}},
		{"a call pauses the clock", 30, []ev{login(0), read(0, 0), call(5, true), call(15, false)}, 100, false, []string{"34.000 warn 40.000", "40.000 logout"}},
		{"a call pauses even on a locked screen", 30, []ev{login(0), read(0, 0, "locked"), call(5, true), call(15, false)}, 100, false, []string{"34.000 warn 40.000", "40.000 logout"}},
		{"an utterance ending at 10 s keeps the user active: warning at 34 s", 30, []ev{login(0), read(0, 0), read(8, 0, "voice"), read(10, 0)}, 100, false, []string{"34.000 warn 40.000", "40.000 logout"}},
		{"speech does not dismiss a warning", 30, []ev{login(0), read(0, 0), read(25, 0, "voice"), read(28, 0)}, 100, false, []string{"24.000 warn 30.000", "30.000 logout"}},
		{"speech near a locked screen is not activity", 30, []ev{login(0), read(0, 0), read(8, 0, "locked", "voice")}, 100, false, []string{"24.000 warn 30.000", "30.000 logout"}},
		{"speech while minimized does nothing", 30, []ev{login(0), read(0, 0), read(5, 0, "min"), read(8, 0, "min", "voice"), read(9, 0, "min"), read(15, 0)}, 100, false, []string{"34.000 warn 40.000", "40.000 logout"}},
		{"sensor lost while minimized: counting resumes after the grace", 30, []ev{login(0), read(0, 0), read(0, 0, "min")}, 200, true, []string{"45.000 sensor_lost", "69.000 warn 75.000", "75.000 logout"}},
		{"heartbeats keep a minimized sensor's pause", 30, []ev{login(0), read(0, 0), read(0, 0, "min"), heartbeat(40), heartbeat(80), read(100, 0)}, 200, false, []string{"124.000 warn 130.000", "130.000 logout"}},
		// Frozen at I = 10 from 10 s; lost at 55 s; I = 13 at 58 s, reset by the input reported at 60.
		{"sensor lost: counts from its last value; on reconnect input newer than the loss resets", 60, []ev{login(0), read(0, 0), read(10, 0, "min"), read(60, 58)}, 300, true, []string{"55.000 sensor_lost", "105.000 sensor_lost", "106.000 warn 118.000", "118.000 logout"}},
		// Lost at 55 s with I = 10; counted 55–60 (I = 15); paused 60–70; warning at I = 48.
		{"sensor reconnects minimized: the fresh reading wins", 60, []ev{login(0), read(0, 0), read(10, 0, "min"), read(60, 0, "min"), read(70, 0)}, 300, true, []string{"55.000 sensor_lost", "103.000 warn 115.000", "115.000 sensor_lost", "115.000 logout"}},
		{"page input counts as input, even with a sensor", 30, []ev{login(0), read(0, 0), pageInput(26)}, 100, false, []string{"24.000 warn 30.000", "26.000 withdraw dismissed", "50.000 warn 56.000", "56.000 logout"}},
		{"page hidden pauses when no sensor is connected", 30, []ev{login(0), pageVisible(10, false), pageVisible(17, true)}, 100, false, []string{"31.000 warn 37.000", "37.000 logout"}},
		{"page hidden does not pause while a sensor is live", 30, []ev{login(0), read(0, 0), pageVisible(10, false), pageVisible(17, true)}, 100, false, []string{"24.000 warn 30.000", "30.000 logout"}},
		// Sensor lost at 45 s with I = 45; the page's hidden state then pauses.
		{"page hidden pauses again once the sensor is lost", 60, []ev{login(0), read(0, 0), pageVisible(10, false)}, 300, true, []string{"45.000 sensor_lost"}},
		{"desk logout withdraws the warning and stops the clock", 30, []ev{login(0), read(0, 0), logoutDesk(25)}, 100, false, []string{"24.000 warn 30.000", "25.000 withdraw desk_logout"}},
		{"desk login starts the clock at 0", 30, []ev{read(0, 0), login(20)}, 100, false, []string{"44.000 warn 50.000", "50.000 logout"}},
		{"no desk session: no clock", 30, []ev{read(0, 0)}, 100, false, nil},

		// Input judged when it happened (arrival − idle): made while counting
		// at 9.8 s, reported at 10.5 s after a call began at 10 s → I = 0.2 s
		// at the pause, counting again from the call's end at 20 s.
		{"input reported just after a pause counts as of the input", 30, []ev{login(0), read(0, 0), call(10, true), read(10.5, 9.8), call(20, false)}, 100, false, []string{"43.800 warn 49.800", "49.800 logout"}},
		{"input made while paused and reported after the resume does nothing", 30, []ev{login(0), read(0, 0), call(10, true), call(20, false), read(21.5, 15)}, 100, false, []string{"34.000 warn 40.000", "40.000 logout"}},
		// Minimized at I = 20 s; input at 25 s while minimized; the restore
		// click at 25.2 s (within the jitter of 25 s) reported with the
		// restore at 26.1 s: it brought the desk back, so I = 0 at 26.1 s.
		{"the click that brings the desk back counts even within the jitter", 30, []ev{login(0), read(0, 0), read(20, 0, "min"), read(25, 25, "min"), read(26.1, 25.2)}, 100, false, []string{"50.100 warn 56.100", "56.100 logout"}},

		// Several sessions of one user (DESIGN §1, Identity).
		{"a session that never showed the desk cannot pause", 30, []ev{login(0), read(0, 0), readOn(pcB, 5, 5, "back")}, 100, false, []string{"24.000 warn 30.000", "30.000 logout"}},
		{"desk session killed, the other reports not in front: logout at 30 s", 30, append([]ev{login(0), read(0, 0), readOn(pcB, 5, 5, "back")}, every(25, 20, 100, func(s float64) ev { return heartbeatOn(pcB, s) })...), 100, true, []string{"24.000 warn 30.000", "30.000 logout", "45.000 sensor_lost"}},
		// A minimized at I = 2 s and killed; B live without the desk: A is
		// lost at 47 s and I counts on from 2 s.
		{"desk session lost while minimized: counts on after the grace despite the other", 30, append([]ev{login(0), read(0, 0), read(2, 0, "min"), readOn(pcB, 5, 5, "back")}, every(25, 20, 200, func(s float64) ev { return heartbeatOn(pcB, s) })...), 200, true, []string{"47.000 sensor_lost", "69.000 warn 75.000", "75.000 logout"}},
		{"desk session lost: another showing the desk takes over", 30, append([]ev{login(0), read(0, 0), readOn(pcB, 3, 3, "back"), read(4, 0, "min"), readOn(pcB, 20, 3)}, every(40, 20, 200, func(s float64) ev { return heartbeatOn(pcB, s) })...), 200, true, []string{"20.000 desk_moved pc-a→pc-b", "40.000 warn 46.000", "46.000 logout"}},
		{"hot-desk: working in the desk on B while A's sits idle in front: never warned", 30, append([]ev{login(0), read(0, 0)}, every(5, 5, 91, func(s float64) ev { return readOn(pcB, s, s) })...), 90, false, []string{"5.000 desk_moved pc-a→pc-b"}},
		{"input on B with B's desk not in front is not activity", 30, []ev{login(0), read(0, 0), readOn(pcB, 10, 10, "back"), readOn(pcB, 20, 20, "back")}, 100, false, []string{"24.000 warn 30.000", "30.000 logout"}},
		{"the old desk session paused: minimizing on A after the move to B does not pause", 30, []ev{login(0), read(0, 0), readOn(pcB, 5, 5), read(6, 0, "min")}, 100, false, []string{"5.000 desk_moved pc-a→pc-b", "29.000 warn 35.000", "35.000 logout", "50.000 sensor_lost"}},
		{"a desk login makes the session showing the desk the desk session", 30, []ev{read(0, 0, "back"), readOn(pcB, 1, 1), login(2), read(3, 0, "min")}, 100, false, []string{"26.000 warn 32.000", "32.000 logout", "46.000 sensor_lost"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := run(t, tc.timeout, tc.events, tc.until, tc.quiet)
			if !slices.Equal(got, tc.want) {
				t.Errorf("decisions:\n got  %s\n want %s", strings.Join(got, " | "), strings.Join(tc.want, " | "))
			}
		})
	}
}

func TestLogoutTimelineTellsWhatLedThere(t *testing.T) {
	e := New(Settings{Enabled: true, Timeout: 30 * time.Second}, 0)
	e.DeskLogin(at(0), alice)
	e.Reading(at(1), alice, pcA, Reading{Idle: 0, Foreground: true})
	e.Reading(at(5), alice, pcA, Reading{Idle: 4 * time.Second, Minimized: true})
	e.Reading(at(12), alice, pcA, Reading{Idle: 11 * time.Second, Foreground: true})
	var logout *Decision
	for i := 0; i < 5 && logout == nil; i++ {
		d, _ := e.NextDeadline()
		for _, x := range e.Advance(d) {
			if x.Kind == DecisionLogout {
				logout = &x
			}
		}
	}
	if logout == nil {
		t.Fatal("no logout")
	}
	if got, want := secs(logout.At), "38.000"; got != want {
		t.Errorf("logout at %s, want %s", got, want)
	}
	var story []string
	for _, s := range logout.Timeline {
		story = append(story, secs(s.At)+" "+s.Kind.String())
	}
	want := []string{"1.000 input", "5.000 minimized", "5.000 left_front", "12.000 restored", "12.000 in_front", "32.000 warned", "38.000 logged_out"}
	if !slices.Equal(story, want) {
		t.Errorf("timeline:\n got  %v\n want %v", story, want)
	}
}

func TestStates(t *testing.T) {
	e := New(Settings{Enabled: true, Timeout: 60 * time.Second}, 0)
	check := func(sec float64, want Status, reasons Reasons) {
		t.Helper()
		e.Advance(at(sec))
		st, ok := e.State(alice)
		if !ok || st.Status != want || st.Reasons != reasons {
			t.Errorf("at %vs: state %v %v, want %v %v", sec, st.Status, st.Reasons.Strings(), want, reasons.Strings())
		}
	}
	e.Heartbeat(at(0), alice, pcA)
	check(0, StatusOffline, 0)
	e.DeskLogin(at(1), alice)
	check(1, StatusActive, 0)
	e.Reading(at(1.5), alice, pcA, Reading{Idle: 500 * time.Millisecond, Foreground: true})
	e.Reading(at(2), alice, pcA, Reading{Minimized: true})
	check(2, StatusPaused, ReasonMinimized)
	e.Call(at(3), alice, true)
	check(3, StatusPaused, ReasonMinimized|ReasonOnCall)
	e.Reading(at(4), alice, pcA, Reading{Foreground: false})
	check(4, StatusPaused, ReasonNotInFront|ReasonOnCall)
	e.Call(at(5), alice, false)
	e.Reading(at(5), alice, pcA, Reading{Idle: 3500 * time.Millisecond, Foreground: true})
	check(5, StatusActive, 0)
	check(53, StatusWarned, 0)
	if st, _ := e.State(alice); st.Inactivity != 48*time.Second || !st.Deadline.Equal(at(65)) {
		t.Errorf("warned: inactivity %v deadline %s, want 48s and 65", st.Inactivity, secs(st.Deadline))
	}
	e.SetSettings(at(54), Settings{Enabled: false, Timeout: 60 * time.Second})
	check(54, StatusDisabled, 0)
	e.SetSettings(at(55), Settings{Enabled: true, Timeout: 30 * time.Second})
	check(85, StatusLoggedOut, 0)
}

func TestChangedDecisionsFollowTheState(t *testing.T) {
	e := New(Settings{Enabled: true, Timeout: 30 * time.Second}, 0)
	var changes []string
	note := func(ds []Decision) {
		for _, d := range ds {
			if d.Kind == DecisionChanged {
				changes = append(changes, fmt.Sprintf("%s %s %v %s", secs(d.At), d.State.Status, d.State.Reasons.Strings(), d.State.Sensor))
			}
		}
	}
	note(e.DeskLogin(at(0), alice))
	note(e.Reading(at(1), alice, pcA, Reading{Foreground: true}))
	note(e.Reading(at(2), alice, pcA, Reading{Foreground: true})) // nothing changed
	note(e.Reading(at(3), alice, pcA, Reading{Minimized: true}))
	note(e.Advance(at(100)))
	want := []string{
		"0.000 active [] none",
		"1.000 active [] live",
		"3.000 paused [minimized] live",
		"48.000 active [] stale",
		"72.000 warned [] stale",
		"78.000 logged_out [] stale",
	}
	if !slices.Equal(changes, want) {
		t.Errorf("changes:\n got  %v\n want %v", changes, want)
	}
}

func TestRestartNeitherResetsNorBringsWarningEarly(t *testing.T) {
	// Alive until 20 s with I = 20 s, down for 3 s: restored at 23 s.
	restored := func(t *testing.T) *Engine {
		t.Helper()
		e := New(Settings{Enabled: true, Timeout: 30 * time.Second}, 0)
		e.DeskLogin(at(0), alice)
		e.Reading(at(0), alice, pcA, Reading{Foreground: true, MicAvailable: true})
		r := New(Settings{Enabled: true, Timeout: 30 * time.Second}, 0)
		for _, d := range r.Restore(at(23), at(20), e.Snapshots()) {
			if d.Kind == DecisionWarn || d.Kind == DecisionLogout {
				t.Fatalf("restore decided %v", d.Kind)
			}
		}
		if st, _ := r.State(alice); st.Inactivity != 20*time.Second || st.Status != StatusActive {
			t.Fatalf("restored state %v I=%v, want active I=20s", st.Status, st.Inactivity)
		}
		return r
	}
	for _, tc := range []struct {
		name string
		then func(e *Engine) []Decision
		want []string
	}{
		// The user typed at 21.5 s, during the outage; the agent reports it
		// at 24 s: it counts at the restart.
		{"input during the outage counts at the restart", func(e *Engine) []Decision {
			return e.Reading(at(24), alice, pcA, Reading{Idle: 2500 * time.Millisecond, Foreground: true})
		}, []string{"47.000 warn 53.000", "53.000 logout"}},
		// The sensor reports at 24 s with nothing new: the warning was due
		// at 27 s (I = 24 s), after the sensor spoke.
		{"no input: due as if the outage had not happened", func(e *Engine) []Decision {
			return e.Heartbeat(at(24), alice, pcA)
		}, []string{"27.000 warn 33.000", "33.000 logout"}},
		// The sensor reports only at 30 s: the warning due at 27 s waits for it.
		// It must still be visible 0.2·T = 6 s.
		{"nothing decided before the sensor reports", func(e *Engine) []Decision {
			if ds := e.Advance(at(29.9)); len(ds) > 0 {
				return ds
			}
			return e.Heartbeat(at(30), alice, pcA)
		}, []string{"30.000 warn 36.000", "36.000 logout"}},
		// No sensor speaks again: held for the heartbeat grace (45 s) from
		// the restart, then warned and logged out 0.2·T later.
		{"no sensor: decided after the grace", func(e *Engine) []Decision { return nil }, []string{"68.000 warn 74.000", "74.000 logout"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := restored(t)
			var got []string
			collect := func(ds []Decision) {
				for _, x := range ds {
					switch x.Kind {
					case DecisionWarn:
						got = append(got, secs(x.At)+" warn "+secs(x.Deadline))
					case DecisionLogout:
						got = append(got, secs(x.At)+" logout")
					}
				}
			}
			collect(tc.then(e))
			for range 10 {
				d, ok := e.NextDeadline()
				if !ok {
					break
				}
				collect(e.Advance(d))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("decisions %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRestoreFiresWhatFellDueBeforeTheCrash(t *testing.T) {
	e := New(Settings{Enabled: true, Timeout: 30 * time.Second}, 0)
	e.DeskLogin(at(0), alice)
	e.Reading(at(0), alice, pcA, Reading{Foreground: true})
	snaps := e.Snapshots()

	// The warning fell due at 24 s, the coordinator died at 26 s (its
	// decision unrecorded) and came back at 40 s.
	r := New(Settings{Enabled: true, Timeout: 30 * time.Second}, 0)
	var got []string
	for _, d := range r.Restore(at(40), at(26), snaps) {
		if d.Kind == DecisionWarn {
			got = append(got, secs(d.At)+" warn "+secs(d.Deadline))
		}
		if d.Kind == DecisionLogout {
			got = append(got, secs(d.At)+" logout")
		}
	}
	// Warned at 24 (as it would have been), restated at the restart with
	// the 14 s of downtime added to the deadline.
	if want := []string{"24.000 warn 30.000", "40.000 warn 44.000"}; !slices.Equal(got, want) {
		t.Errorf("restore decided %v, want %v", got, want)
	}
}

func TestLateEventsApplyAtThePresent(t *testing.T) {
	e := New(Settings{Enabled: true, Timeout: 30 * time.Second}, 0)
	e.DeskLogin(at(10), alice)
	e.Call(at(5), alice, true) // late: applied at 10
	e.Call(at(20), alice, false)
	d, _ := e.NextDeadline()
	if got := secs(d); got != "44.000" {
		t.Errorf("warning due at %s, want 44.000", got)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		timeout time.Duration
		ok      bool
	}{
		{29 * time.Second, false},
		{30 * time.Second, true},
		{300 * time.Second, true},
		{3600 * time.Second, true},
		{3601 * time.Second, false},
		{12500 * time.Millisecond, false},
		{45500 * time.Millisecond, false},
		{0, false},
		{-30 * time.Second, false},
	} {
		err := Settings{Enabled: true, Timeout: tc.timeout}.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("Validate(%v) = %v, want ok=%v", tc.timeout, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "from 30 to 3600") {
			t.Errorf("Validate(%v) = %q, does not name the range", tc.timeout, err)
		}
	}
}
