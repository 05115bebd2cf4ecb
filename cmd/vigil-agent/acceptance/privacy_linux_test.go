//go:build linux

package acceptance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/vigil-cc/vigil/internal/e2etest"
	"github.com/vigil-cc/vigil/internal/testrig"
	"github.com/vigil-cc/vigil/protocol"
)

// canary is in the Agent Desk window's title: it must never leave the
// workstation.
const canary = "CANARY-9c4e-vigil"

// The privacy rule, written out here on its own (not taken from the
// protocol package): every message type the agent may send and its keys.
var allowedKeys = map[string][]string{
	"hello":         {"type", "agent_version", "os", "host"},
	"session_open":  {"type", "session", "os_user"},
	"reading":       {"type", "session", "idle_ms", "agent_desk_foreground", "agent_desk_minimized", "screen_locked", "mic_available", "voice"},
	"heartbeat":     {"type", "session"},
	"session_close": {"type", "session"},
}

// Request headers the agent may send.
var allowedHeaders = []string{"Host", "User-Agent", "Connection", "Upgrade", "Authorization", "Accept-Encoding",
	"Content-Type", "Content-Length", "Sec-Websocket-Key", "Sec-Websocket-Version", "Sec-Websocket-Protocol"}

// Every byte the real agent sends to a real coordinator, captured by a
// proxy while the Agent Desk's title holds a canary and speech plays into
// the microphone: no canary, no audio, nothing but the protocol's allowed
// fields in text frames.
func TestPrivacyEverythingTheAgentSends(t *testing.T) {
	t.Parallel()
	wav, _ := utterance(t)
	p := e2etest.StartRecorder(t)
	r := newRig(t, rigOptions{title: "Agent Desk " + canary, via: p.Via})
	// Chromium titles its window once the page has loaded, which on a
	// loaded machine can come after the agent is live. Without the canary
	// in the title the check would prove nothing.
	testrig.Eventually(t, 20*time.Second, func() (bool, string) {
		name, err := r.X.Xdotool("getwindowname", r.Browser.Window)
		return err == nil && strings.Contains(name, canary), fmt.Sprintf("window title %q (%v) has no canary", name, err)
	})

	// Speech while the Agent Desk is in front, input, another window.
	start := time.Now()
	for range 2 {
		if err := <-r.Pulse.PlayAsync(t, wav); err != nil {
			t.Fatal(err)
		}
	}
	// Minimized and back, then input.
	r.X.MustXdotool(t, "windowminimize", "--sync", r.Browser.Window)
	time.Sleep(600 * time.Millisecond) // longer than a poll
	r.X.Activate(t, r.Browser.Window)
	r.Input("key")
	time.Sleep(300 * time.Millisecond)
	r.Input("mouse")
	// Until the agent has reported all of it: voice, the desk minimized and
	// in front, and the input (the trailing report).
	testrig.Eventually(t, 10*time.Second, func() (bool, string) {
		var voice, front, minimized, input bool
		for _, m := range agentMessages(t, p, false) {
			if rd, ok := m.(protocol.Reading); ok {
				voice = voice || rd.Voice
				front = front || rd.AgentDeskForeground
				minimized = minimized || rd.AgentDeskMinimized
				input = rd.IdleMS < 1500 && !rd.Voice
			}
		}
		return voice && front && minimized && input,
			fmt.Sprintf("reported: voice %v, desk in front %v, minimized %v, the last input %v", voice, front, minimized, input)
	})
	t.Logf("speech and input for %v", time.Since(start).Round(time.Millisecond))
	r.Agent.Stop(t, true) // session_close and a close frame go out too
	time.Sleep(200 * time.Millisecond)

	msgs := agentMessages(t, p, true)
	var types []string
	for _, m := range msgs {
		types = append(types, m.Type())
	}
	t.Logf("the agent sent %d messages: %v", len(msgs), types)
	if len(msgs) < 4 || msgs[0].Type() != protocol.TypeHello || msgs[len(msgs)-1].Type() != protocol.TypeSessionClose {
		t.Errorf("messages %v: want hello first and session_close last", types)
	}
}

// agentMessages checks everything the agent sent through p so far and
// returns its messages. With final set, the capture must be complete (the
// agent has stopped).
func agentMessages(t testing.TB, p *e2etest.Recorder, final bool) []protocol.Message {
	t.Helper()
	var msgs []protocol.Message
	enrolls, sockets := 0, 0
	for i, rec := range p.Records() {
		up, down := rec.Stream(true), rec.Stream(false)
		for _, dir := range []struct {
			name string
			s    e2etest.Stream
		}{{"agent → coordinator", up}, {"coordinator → agent", down}} {
			if bytes.Contains(bytes.ToLower(dir.s.B), bytes.ToLower([]byte(canary))) {
				t.Fatalf("connection %d, %s: the window title's canary is on the wire:\n%q", i, dir.name, dir.s.B)
			}
		}
		head, off, ok := up.HTTPHead()
		if !ok {
			if final {
				t.Errorf("connection %d: no complete HTTP request: %q", i, up.B)
			}
			continue
		}
		checkHeaders(t, head)
		switch {
		case strings.HasPrefix(head, "POST /api/v1/enroll HTTP/1.1\r\n"):
			enrolls++
			if !final {
				continue
			}
			var body map[string]json.RawMessage
			if err := json.Unmarshal(up.B[off:], &body); err != nil {
				t.Errorf("enrollment body %q: %v", up.B[off:], err)
			}
			var keys []string
			for k := range body {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			if !slices.Equal(keys, []string{"enrollment_token", "host", "os"}) {
				t.Errorf("the enrollment request carries %v", keys)
			}
		case strings.HasPrefix(head, "GET /agent/v1/ws HTTP/1.1\r\n"):
			sockets++
			msgs = append(msgs, socketMessages(t, i, up, off, down, final)...)
		default:
			t.Errorf("connection %d: unexpected request %q", i, head)
		}
	}
	if final && (enrolls != 1 || sockets != 1) {
		t.Errorf("%d enrollment requests and %d WebSocket connections, want 1 and 1", enrolls, sockets)
	}
	return msgs
}

// checkHeaders fails on request headers outside allowedHeaders.
func checkHeaders(t testing.TB, head string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(head, "\r\n\r\n"), "\r\n")
	for _, l := range lines[1:] {
		k, _, _ := strings.Cut(l, ":")
		if !slices.Contains(allowedHeaders, http.CanonicalHeaderKey(k)) {
			t.Errorf("request header %q is not allowed", l)
		}
	}
}

// socketMessages checks one WebSocket connection's frames and returns the
// agent's messages.
func socketMessages(t testing.TB, i int, up e2etest.Stream, off int, down e2etest.Stream, final bool) []protocol.Message {
	t.Helper()
	// The coordinator's pings, which the agent's pongs may echo.
	pings := map[string]bool{}
	if _, doff, ok := down.HTTPHead(); ok {
		fs, _ := down.Frames(doff)
		for _, f := range fs {
			if f.Op == 9 {
				pings[string(f.Payload)] = true
			}
		}
	}
	frames, err := up.Frames(off)
	if err != nil && (final || err != e2etest.ErrTruncated) {
		t.Errorf("connection %d: agent frames: %v", i, err)
	}
	var msgs []protocol.Message
	total := 0
	for j, f := range frames {
		total += f.Size
		where := fmt.Sprintf("connection %d, frame %d (%v)", i, j, f)
		// Client frames are masked: the raw capture cannot show the canary,
		// the unmasked payload can.
		if bytes.Contains(bytes.ToLower(f.Payload), bytes.ToLower([]byte(canary))) {
			t.Fatalf("%s: the window title's canary is in a frame", where)
		}
		switch {
		case !f.Masked:
			t.Errorf("%s: not masked", where)
		case f.RSV != 0:
			t.Errorf("%s: RSV bits set (an extension such as compression could hide content)", where)
		case !f.Fin:
			t.Errorf("%s: fragmented", where)
		case len(f.Payload) > 512:
			t.Errorf("%s: %d bytes of payload", where, len(f.Payload))
		}
		switch f.Op {
		case 1: // text: one JSON message
			m := checkMessage(t, where, f.Payload)
			if m != nil {
				msgs = append(msgs, m)
			}
		case 8: // close: a code and a short reason
			if len(f.Payload) == 1 || !utf8.Valid(f.Payload[min(2, len(f.Payload)):]) {
				t.Errorf("%s: bad close frame", where)
			}
		case 9: // ping from the agent's liveness check: a counter
			if strings.Trim(string(f.Payload), "0123456789") != "" {
				t.Errorf("%s: ping payload is not a counter", where)
			}
		case 10: // pong: must echo a ping of the coordinator
			if !pings[string(f.Payload)] {
				t.Errorf("%s: pong echoes no ping of the coordinator", where)
			}
		default:
			t.Errorf("%s: a frame other than text, close, ping or pong", where)
		}
	}
	if total > 64<<10 {
		t.Errorf("connection %d: %d bytes sent", i, total)
	}
	if len(msgs) > 0 && msgs[0].Type() != protocol.TypeHello {
		t.Errorf("connection %d: first message %s, want hello", i, msgs[0].Type())
	}
	return msgs
}

// checkMessage checks a text frame against the privacy rule and returns
// its message (nil if it is not one).
func checkMessage(t testing.TB, where string, payload []byte) protocol.Message {
	t.Helper()
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(payload, &obj); err != nil {
		t.Errorf("%s: not a JSON object: %v", where, err)
		return nil
	}
	var typ string
	_ = json.Unmarshal(obj["type"], &typ)
	allowed, ok := allowedKeys[typ]
	if !ok {
		t.Errorf("%s: message type %q is not one the agent may send", where, typ)
		return nil
	}
	for k, v := range obj {
		if !slices.Contains(allowed, k) {
			t.Errorf("%s: key %q is not allowed in %s", where, k, typ)
		}
		if len(v) > 0 && (v[0] == '{' || v[0] == '[') {
			t.Errorf("%s: %s holds nested data", where, k)
		}
	}
	if len(obj) != len(allowed) {
		t.Errorf("%s: %d keys, want exactly %v", where, len(obj), allowed)
	}
	m, err := protocol.DecodeFromAgent(payload)
	if err != nil {
		t.Errorf("%s: %v", where, err)
		return nil
	}
	return m
}

// The checker itself: a capture with a leak in a masked frame, an extra
// key, a binary frame or compression fails it.
func TestPrivacyCheckerCatchesLeaks(t *testing.T) {
	t.Parallel()
	head := "GET /agent/v1/ws HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\n\r\n"
	hello := `{"type":"hello","agent_version":"1","os":"linux","host":"h"}`
	ok := `{"type":"heartbeat","session":"1"}`
	for _, tc := range []struct {
		name   string
		frames [][]byte
		head   string
		want   string
	}{
		{"clean", [][]byte{frame(1, 0, hello), frame(1, 0, ok)}, head, ""},
		{"canary in a value", [][]byte{frame(1, 0, hello), frame(1, 0, `{"type":"session_open","session":"1","os_user":"`+canary+`"}`)}, head, "canary"},
		{"extra key", [][]byte{frame(1, 0, hello), frame(1, 0, `{"type":"heartbeat","session":"1","title":"Agent Desk"}`)}, head, `key "title" is not allowed`},
		{"binary frame", [][]byte{frame(1, 0, hello), frame(2, 0, "\x00\x01audio")}, head, "other than text"},
		{"compressed", [][]byte{frame(1, 0, hello), frame(1, 4, ok)}, head, "RSV bits"},
		{"unknown type", [][]byte{frame(1, 0, hello), frame(1, 0, `{"type":"window","session":"1"}`)}, head, "not one the agent may send"},
		{"extra header", [][]byte{frame(1, 0, hello)}, strings.Replace(head, "Host: x", "Host: x\r\nX-Title: y", 1), "X-Title"},
	} {
		up := e2etest.Stream{B: []byte(tc.head)}
		for _, f := range tc.frames {
			up.B = append(up.B, f...)
		}
		up.Ends, up.Ats = []int{len(up.B)}, []time.Time{time.Now()}
		f := &fakeTB{TB: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, off, _ := up.HTTPHead()
			checkHeaders(f, tc.head)
			socketMessages(f, 0, up, off, e2etest.Stream{}, true)
		}()
		<-done
		got := strings.Join(f.msgs, "\n")
		if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
			t.Errorf("%s: checker said %q, want %q", tc.name, got, tc.want)
		}
	}
}

// frame is a masked client frame.
func frame(op, rsv byte, payload string) []byte {
	key := []byte{0x11, 0x22, 0x33, 0x44}
	b := []byte{0x80 | rsv<<4 | op, 0x80 | byte(len(payload))}
	b = append(b, key...)
	for i := range len(payload) {
		b = append(b, payload[i]^key[i%4])
	}
	return b
}

// fakeTB records failures; Fatal ends the calling goroutine.
type fakeTB struct {
	testing.TB
	mu   sync.Mutex
	msgs []string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Errorf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.msgs = append(f.msgs, fmt.Sprintf(format, args...))
}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.Errorf(format, args...)
	runtime.Goexit()
}
