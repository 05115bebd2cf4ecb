//go:build linux

package main

// Acceptance tests: the real vigil-agent binary against real components,
// each test on its own Xvfb display and/or PulseAudio daemon (testrig).

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-cc/vigil/internal/e2etest"
	"github.com/vigil-cc/vigil/internal/testrig"
)

// The one-shot JSON has every documented field with the documented type.
func TestDoctorJSONFields(t *testing.T) {
	t.Parallel()
	x := testrig.Display(t)
	p := testrig.Pulse(t)
	stdout, stderr, err := doctorOnce(t, e2etest.AgentEnv(x.Env(), p.Env()), "--json", "--listen-ms", "200")
	if err != nil {
		t.Fatalf("%v\n%s\n%s", err, stdout, stderr)
	}
	if strings.Count(stdout, "\n") != 1 {
		t.Errorf("want exactly one line of JSON, got %q", stdout)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(stdout), &m); err != nil {
		t.Fatalf("%v: %q", err, stdout)
	}
	for field, kind := range map[string]string{
		"idle_ms": "number", "agent_desk_foreground": "bool", "agent_desk_minimized": "bool",
		"foreground_pid": "number", "screen_locked": "bool", "mic_available": "bool",
		"mic_dbfs": "number", "voice": "bool",
	} {
		v, ok := m[field]
		var got string
		switch v.(type) {
		case float64:
			got = "number"
		case bool:
			got = "bool"
		}
		if !ok || got != kind {
			t.Errorf("field %s = %#v, want a %s", field, v, kind)
		}
	}
	if m["mic_available"] != true || m["mic_dbfs"] != -120.0 || m["voice"] != false {
		t.Errorf("silent rig microphone: %s", stdout)
	}
	if _, ok := m["errors"]; ok {
		t.Errorf("errors on a working rig: %s\nstderr: %s", stdout, stderr)
	}
	// The audio libraries' probing noise is silenced.
	if strings.Contains(stderr, "ALSA lib") || strings.Contains(stderr, "jack") {
		t.Errorf("stderr has audio library noise:\n%s", stderr)
	}

	// The human-readable table.
	stdout, _, err = doctorOnce(t, e2etest.AgentEnv(x.Env(), p.Env()), "--listen-ms", "0")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"idle", "agent desk in front", "agent desk minimized", "foreground pid", "screen locked", "microphone available", "voice"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, stdout)
		}
	}
}

// Without a display the doctor still prints its reading, with the error,
// and fails; an unknown microphone is reported, not fatal.
func TestDoctorMissingDisplayAndMic(t *testing.T) {
	t.Parallel()
	p := testrig.Pulse(t)
	stdout, stderr, err := doctorOnce(t, e2etest.AgentEnv(p.Env(), []string{"DISPLAY=:999999"}), "--json", "--listen-ms", "0", "--mic-device", "no-such-mic")
	var exit *exec.ExitError
	if !errorsAs(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("exit %v, want status 1\n%s\n%s", err, stdout, stderr)
	}
	var o doctorOutput
	if err := json.Unmarshal([]byte(stdout), &o); err != nil {
		t.Fatalf("%v: %q", err, stdout)
	}
	if o.MicAvailable || o.Errors["desktop"] == "" || !strings.Contains(o.Errors["mic"], "no-such-mic") {
		t.Errorf("%+v", o)
	}
}

func TestDoctorIdle(t *testing.T) {
	t.Parallel()
	x := testrig.Display(t)
	env := e2etest.AgentEnv(x.Env())
	idle := func() int64 { return doctorJSON(t, env, "--mic=false").IdleMs }

	// Grows while nobody touches the display.
	var first int64
	testrig.Eventually(t, 5*time.Second, func() (bool, string) {
		first = idle()
		return first >= 300, fmt.Sprintf("idle %d ms, want >= 300", first)
	})
	testrig.Eventually(t, 5*time.Second, func() (bool, string) {
		n := idle()
		return n >= first+200, fmt.Sprintf("idle %d ms, want it to grow past %d", n, first+200)
	})

	w := startWatch(t, env, "--mic=false")
	w.waitFor(0, 5*time.Second, "a first reading", func(o doctorOutput) bool { return o.IdleMs >= 300 })
	for _, input := range [][]string{{"mousemove", "--sync", "100", "100"}, {"key", "shift"}} {
		from := w.mark()
		x.MustXdotool(t, input...)
		l, _ := w.waitFor(from, 2*time.Second, "idle below 500 ms after "+input[0],
			func(o doctorOutput) bool { return o.IdleMs < 500 })
		t.Logf("after xdotool %s: idle_ms=%d", input[0], l.out.IdleMs)
		// Let it grow again so that the next input is a visible drop.
		testrig.Eventually(t, 5*time.Second, func() (bool, string) {
			n := idle()
			return n >= 600, fmt.Sprintf("idle %d ms", n)
		})
	}
	// And a one-shot right after input.
	x.MustXdotool(t, "mousemove", "--sync", "300", "300")
	if n := idle(); n >= 500 {
		t.Errorf("one-shot idle %d ms right after input, want < 500", n)
	}
}

// devtools calls Chromium's DevTools HTTP endpoint.
func devtools(t *testing.T, b *testrig.Browser, method, path string) []byte {
	t.Helper()
	u, err := url.Parse(b.DevToolsURL)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, "http://"+u.Host+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %s %s", method, path, resp.Status, body)
	}
	return body
}

// The Agent Desk window: its active tab, another tab, another window,
// minimized and back; and its title never appears in the agent's output.
func TestDoctorAgentDeskWindowAndPrivacy(t *testing.T) {
	t.Parallel()
	testrig.Require(t, "xmessage")
	x := testrig.Display(t)
	const title = "Agent Desk " + canary
	b := testrig.Chromium(t, x, "data:text/html,<title>"+url.PathEscape(title)+"</title><p>desk</p>")
	env := e2etest.AgentEnv(x.Env())
	w := startWatch(t, env, "--mic=false")
	isDesk := func(o doctorOutput) bool {
		return o.AgentDeskForeground && !o.AgentDeskMinimized && o.ForegroundPID == b.Pid
	}

	l, _ := w.waitFor(0, 15*time.Second, "the Agent Desk in front with Chromium's pid", isDesk)
	t.Logf("desk in front: %s", l)

	// Another tab in front (opened through DevTools), then the desk tab again.
	from := w.mark()
	devtools(t, b, http.MethodPut, "/json/new?about:blank")
	w.waitFor(from, 10*time.Second, "another tab in front", func(o doctorOutput) bool {
		return !o.AgentDeskForeground && !o.AgentDeskMinimized && o.ForegroundPID == b.Pid
	})
	var targets []struct{ ID, Type, URL string }
	if err := json.Unmarshal(devtools(t, b, http.MethodGet, "/json/list"), &targets); err != nil {
		t.Fatal(err)
	}
	deskTab := ""
	for _, tg := range targets {
		if tg.Type == "page" && strings.HasPrefix(tg.URL, "data:") {
			deskTab = tg.ID
		}
	}
	if deskTab == "" {
		t.Fatalf("no desk tab among %+v", targets)
	}
	from = w.mark()
	devtools(t, b, http.MethodGet, "/json/activate/"+deskTab)
	w.waitFor(from, 10*time.Second, "the desk tab in front again", isDesk)

	// Another window in front.
	from = w.mark()
	otherID := x.XMessage(t, "Other window")
	x.Activate(t, otherID)
	w.waitFor(from, 10*time.Second, "another window in front", func(o doctorOutput) bool {
		return !o.AgentDeskForeground && !o.AgentDeskMinimized && o.ForegroundPID != b.Pid
	})
	from = w.mark()
	x.Activate(t, b.Window)
	w.waitFor(from, 10*time.Second, "the desk window in front again", isDesk)

	// Minimized, then restored.
	from = w.mark()
	x.MustXdotool(t, "windowminimize", "--sync", b.Window)
	w.waitFor(from, 10*time.Second, "the desk minimized", func(o doctorOutput) bool {
		return o.AgentDeskMinimized && !o.AgentDeskForeground
	})
	from = w.mark()
	x.Activate(t, b.Window)
	w.waitFor(from, 10*time.Second, "the desk restored", isDesk)

	// Privacy: the title is in Chromium's window, and nowhere in what the
	// agent printed: the watch stream, a one-shot JSON, the table.
	if name, err := x.Xdotool("getwindowname", b.Window); err != nil || !strings.Contains(name, canary) {
		t.Fatalf("the canary is not in the window title (%q, %v): the privacy check would prove nothing", name, err)
	}
	oneJSON, oneErr, err := doctorOnce(t, env, "--json", "--mic=false")
	if err != nil {
		t.Fatal(err)
	}
	table, tableErr, err := doctorOnce(t, env, "--mic=false")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(oneJSON, `"agent_desk_foreground":true`) {
		t.Errorf("one-shot does not see the desk: %s", oneJSON)
	}
	w.stop()
	for name, text := range map[string]string{"watch": w.output(), "json": oneJSON + oneErr, "table": table + tableErr} {
		if strings.Contains(text, canary) || strings.Contains(text, "7f3a") {
			t.Errorf("doctor %s output contains the window title's canary:\n%s", name, text)
		}
	}
}

// speechFixture writes espeak-ng speech as 16 kHz mono s16 with leading and
// trailing silence trimmed, and returns its path and duration.
func speechFixture(t *testing.T, dir string) (string, time.Duration) {
	t.Helper()
	return e2etest.Speech(t, dir, "Good morning, thank you for calling. How can I help you today?")
}

// Speech played into the rig's microphone turns voice on within 500 ms and
// off within 1 s after it ends.
func TestDoctorVoiceFromSpeech(t *testing.T) {
	t.Parallel()
	p := testrig.Pulse(t)
	wav, dur := speechFixture(t, t.TempDir())
	w := startWatch(t, e2etest.AgentEnv(p.Env()), "--desktop=false")
	w.waitFor(0, 10*time.Second, "the microphone available", func(o doctorOutput) bool { return o.MicAvailable })

	on, final, start, end := w.speech(p, wav, dur, 3*time.Second)
	onDelay, offDelay := on.at.Sub(start), final.at.Sub(end)
	if onDelay > 500*time.Millisecond {
		t.Errorf("voice on %v after speech started, want within 500 ms", onDelay)
	}
	if offDelay > time.Second {
		t.Errorf("voice off %v after speech ended, want within 1 s", offDelay)
	}
	if on.out.MicDBFS < -60 {
		t.Errorf("mic_dbfs %.1f while speaking", on.out.MicDBFS)
	}

	// A one-shot listening through speech says voice, with a speech-level
	// loudest 100 ms.
	played := p.PlayAsync(t, wav)
	o := doctorJSON(t, e2etest.AgentEnv(p.Env()), "--desktop=false", "--listen-ms", "1500")
	if err := <-played; err != nil {
		t.Fatal(err)
	}
	if !o.Voice || !o.MicAvailable || o.MicDBFS < -40 || o.MicDBFS > -3 {
		t.Errorf("one-shot during speech: %+v", o)
	}
}

// Digital silence, a single click and a steady hum do not turn voice on;
// speech at the end shows the pipeline was listening all along.
func TestDoctorNoVoiceFromSilenceClickHum(t *testing.T) {
	t.Parallel()
	testrig.Require(t, "sox")
	p := testrig.Pulse(t)
	dir := t.TempDir()
	silence, click, hum := filepath.Join(dir, "silence.wav"), filepath.Join(dir, "click.wav"), filepath.Join(dir, "hum.wav")
	sh(t, "sox", "-n", "-r", "16000", "-c", "1", "-b", "16", "-D", silence, "trim", "0", "2")
	// 0.5 s silence, a 1 ms full-scale impulse, 1 s silence.
	impulse := filepath.Join(dir, "impulse.wav")
	sh(t, "sox", "-n", "-r", "16000", "-c", "1", "-b", "16", "-D", impulse, "synth", "0.001", "square", "0", "vol", "0.9")
	sh(t, "sox", "-D", silence, impulse, silence, click, "trim", "1.5", "1.501")
	// 100 Hz at vol 0.03: -33.5 dBFS RMS, well above the -50 dBFS minimum.
	sh(t, "sox", "-n", "-r", "16000", "-c", "1", "-b", "16", "-D", hum, "synth", "4.5", "sine", "100", "vol", "0.03")
	wav, _ := speechFixture(t, dir)

	w := startWatch(t, e2etest.AgentEnv(p.Env()), "--desktop=false")
	w.waitFor(0, 10*time.Second, "the microphone available", func(o doctorOutput) bool { return o.MicAvailable })
	noVoice := func(what string, from int) {
		t.Helper()
		if l, ok := w.last(); ok && l.out.Voice {
			t.Errorf("%s: voice is on: %s", what, l)
		}
		for _, l := range w.since(from) {
			if l.out.Voice {
				t.Errorf("%s turned voice on: %s", what, l)
			}
		}
	}
	for _, fx := range []struct{ name, wav string }{{"digital silence", silence}, {"a click", click}} {
		from := w.mark()
		p.Play(t, fx.wav)
		// The watcher prints only changes: give a late voice line (300 ms
		// hangover + capture latency) time to show before looking.
		time.Sleep(700 * time.Millisecond)
		noVoice(fx.name, from)
	}

	// The hum from silence: voice may flicker on at its onset; after 2.5 s
	// it must be, and stay, off until it ends.
	humFrom, humStart := w.mark(), time.Now()
	played := p.PlayAsync(t, hum)
	// A fresh one-shot starting 2.5 s into the hum does not hear voice.
	time.Sleep(2500*time.Millisecond - time.Since(humStart))
	from := w.mark()
	if l, ok := w.last(); ok && l.out.Voice {
		t.Errorf("voice still on 2.5 s into a steady hum: %s", l)
	}
	o := doctorJSON(t, e2etest.AgentEnv(p.Env()), "--desktop=false", "--listen-ms", "1500")
	if o.Voice || !o.MicAvailable || o.MicDBFS < -40 || o.MicDBFS > -30 {
		t.Errorf("one-shot during the hum: %+v (want no voice at about -33.5 dBFS)", o)
	}
	if err := <-played; err != nil {
		t.Fatal(err)
	}
	noVoice("a hum playing for 2.5 s", from)
	var onsets []string
	for _, l := range w.since(humFrom) {
		onsets = append(onsets, fmt.Sprintf("voice=%v at +%v", l.out.Voice, l.at.Sub(humStart).Round(time.Millisecond)))
	}
	t.Logf("hum from silence (4.5 s): %v", onsets)

	// Positive control (the player is stopped at cleanup).
	from = w.mark()
	p.PlayAsync(t, wav)
	w.waitFor(from, 3*time.Second, "voice on for speech", func(o doctorOutput) bool { return o.Voice })
}

func errorsAs(err error, target **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	if ok {
		*target = e
	}
	return ok
}
