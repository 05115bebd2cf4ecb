package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
)

// validMessages holds at least one valid message of every type, including
// values at the edges of every range.
var validMessages = []Message{
	Hello{AgentVersion: "1.4.2", OS: OSLinux, Host: "ws-042.corp.example"},
	Hello{AgentVersion: "1.4.2-rc.1+g3f2a (build 77)", OS: OSWindows, Host: "WS_042"},
	Hello{AgentVersion: strings.Repeat("9", MaxAgentVersionLen), OS: OSDarwin, Host: strings.Repeat("h", MaxHostLen)},
	SessionOpen{Session: "1", OSUser: `CORP\jdoe`},
	SessionOpen{Session: "seat0:c2.x_y-z", OSUser: "jdoe@corp.example"},
	SessionOpen{Session: strings.Repeat("s", MaxSessionLen), OSUser: strings.Repeat("ü", MaxOSUserLen)},
	SessionOpen{Session: "s1", OSUser: "Jürgen Müller <jm> & \"co\""},
	Reading{Session: "s1", IdleMS: 1234, AgentDeskForeground: true, MicAvailable: true},
	Reading{Session: "s1", IdleMS: 0, AgentDeskMinimized: true, ScreenLocked: true, Voice: true},
	Reading{Session: "s1", IdleMS: MaxIdleMS, AgentDeskForeground: true, AgentDeskMinimized: true,
		ScreenLocked: true, MicAvailable: true, Voice: true},
	Heartbeat{Session: "s1"},
	SessionClose{Session: "s1"},
	Policy{Enabled: true, TimeoutS: 300, WarnAtS: 240, TitlePattern: `(?i)^Agent Desk( - .*)?$`,
		HeartbeatS: 30, ServerTimeMS: 1_767_225_600_000},
	Policy{Enabled: false, TimeoutS: MinTimeoutS, WarnAtS: 1, TitlePattern: ".", HeartbeatS: MinHeartbeatS, ServerTimeMS: 1},
	Policy{Enabled: true, TimeoutS: MaxTimeoutS, WarnAtS: MaxTimeoutS - 1,
		TitlePattern: strings.Repeat("<", MaxTitlePatternLen), HeartbeatS: MaxHeartbeatS, ServerTimeMS: MaxTimeMS},
	Warn{Session: "s1", DeadlineMS: 1_767_225_660_000, ServerTimeMS: 1_767_225_600_000},
	Warn{Session: "s1", DeadlineMS: 5, ServerTimeMS: 5},
	Withdraw{Session: "s1", Reason: ReasonDismissed},
	Withdraw{Session: "s1", Reason: ReasonPaused},
	Withdraw{Session: "s1", Reason: ReasonSettings},
	Withdraw{Session: "s1", Reason: ReasonDisabled},
	Withdraw{Session: "s1", Reason: ReasonDeskLogout},
	LoggedOut{Session: "s1", Reason: ReasonInactivity, AtMS: 1_767_225_660_000},
	SessionRefused{Session: "s1", Reason: RefusedUserBound},
	ErrorMessage{Code: CloseDeviceRevoked, Message: "device revoked"},
	ErrorMessage{Code: CloseNormal, Message: ""},
	ErrorMessage{Code: 4999, Message: strings.Repeat("é", MaxErrorMessageLen)},
}

func TestValidMessagesCoverEveryType(t *testing.T) {
	seen := map[string]bool{}
	for _, m := range validMessages {
		seen[m.Type()] = true
	}
	for _, k := range kinds {
		if !seen[k.typ] {
			t.Errorf("no valid %q message in validMessages", k.typ)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for i, m := range validMessages {
		t.Run(fmt.Sprintf("%d_%s", i, m.Type()), func(t *testing.T) {
			frame, err := Encode(m)
			if err != nil {
				t.Fatalf("Encode(%#v): %v", m, err)
			}
			if !bytes.HasPrefix(frame, []byte(`{"type":"`+m.Type()+`",`)) {
				t.Errorf("frame does not start with its type: %s", frame)
			}
			got, err := Decode(frame)
			if err != nil {
				t.Fatalf("Decode(%s): %v", frame, err)
			}
			if got != m {
				t.Fatalf("round trip:\n got %#v\nwant %#v", got, m)
			}
			// Pointers encode like values.
			ptr := reflectPointer(m)
			if frame2, err := Encode(ptr); err != nil || !bytes.Equal(frame2, frame) {
				t.Errorf("Encode(&m) = %s, %v; want %s", frame2, err, frame)
			}

			right, wrong := DecodeFromAgent, DecodeFromCoordinator
			if m.Direction() == FromCoordinator {
				right, wrong = wrong, right
			}
			if got, err := right(frame); err != nil || got != m {
				t.Errorf("decode from %s: %#v, %v", m.Direction(), got, err)
			}
			_, err = wrong(frame)
			var pe *Error
			if !errors.As(err, &pe) || pe.Code != ClosePolicyViolation || pe.Field != "type" ||
				!strings.Contains(pe.Msg, "is sent by the "+m.Direction().String()) {
				t.Errorf("decode in the wrong direction: %v (%#v)", err, pe)
			}
		})
	}
}

// reflectPointer returns a pointer to a copy of m.
func reflectPointer(m Message) Message {
	switch v := m.(type) {
	case Hello:
		return &v
	case SessionOpen:
		return &v
	case Reading:
		return &v
	case Heartbeat:
		return &v
	case SessionClose:
		return &v
	case Policy:
		return &v
	case Warn:
		return &v
	case Withdraw:
		return &v
	case LoggedOut:
		return &v
	case SessionRefused:
		return &v
	case ErrorMessage:
		return &v
	}
	panic(fmt.Sprintf("unknown message %T", m))
}

// A frame is built from members in order; raw values are JSON text.
type kv struct{ k, v string }

func obj(members ...kv) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, m := range members {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%q:%s", m.k, m.v)
	}
	b.WriteByte('}')
	return b.String()
}

// baseFrames holds one valid frame of every type, as members.
var baseFrames = map[string][]kv{
	TypeHello:        {{"type", `"hello"`}, {"agent_version", `"1.4.2"`}, {"os", `"linux"`}, {"host", `"ws-042"`}},
	TypeSessionOpen:  {{"type", `"session_open"`}, {"session", `"s1"`}, {"os_user", `"CORP\\jdoe"`}},
	TypeReading:      readingMembers(`12000`),
	TypeHeartbeat:    {{"type", `"heartbeat"`}, {"session", `"s1"`}},
	TypeSessionClose: {{"type", `"session_close"`}, {"session", `"s1"`}},
	TypePolicy: {{"type", `"policy"`}, {"enabled", `true`}, {"timeout_s", `300`}, {"warn_at_s", `240`},
		{"title_pattern", `"Agent Desk"`}, {"heartbeat_s", `30`}, {"server_time_ms", `1767225600000`}},
	TypeWarn: {{"type", `"warn"`}, {"session", `"s1"`}, {"deadline_ms", `1767225660000`},
		{"server_time_ms", `1767225600000`}},
	TypeWithdraw:       {{"type", `"withdraw"`}, {"session", `"s1"`}, {"reason", `"dismissed"`}},
	TypeLoggedOut:      {{"type", `"logged_out"`}, {"session", `"s1"`}, {"reason", `"inactivity"`}, {"at_ms", `1767225660000`}},
	TypeSessionRefused: {{"type", `"session_refused"`}, {"session", `"s1"`}, {"reason", `"user_bound"`}},
	TypeError:          {{"type", `"error"`}, {"code", `4003`}, {"message", `"device revoked"`}},
}

func readingMembers(idle string) []kv {
	return []kv{{"type", `"reading"`}, {"session", `"s1"`}, {"idle_ms", idle},
		{"agent_desk_foreground", `true`}, {"agent_desk_minimized", `false`}, {"screen_locked", `false`},
		{"mic_available", `true`}, {"voice", `false`}}
}

// with returns base(typ) with member k set to v (appended if absent).
func with(typ, k, v string) string {
	var ms []kv
	found := false
	for _, m := range baseFrames[typ] {
		if m.k == k {
			m.v, found = v, true
		}
		ms = append(ms, m)
	}
	if !found {
		ms = append(ms, kv{k, v})
	}
	return obj(ms...)
}

// without returns base(typ) without member k.
func without(typ, k string) string {
	var ms []kv
	for _, m := range baseFrames[typ] {
		if m.k != k {
			ms = append(ms, m)
		}
	}
	return obj(ms...)
}

func TestBaseFramesAreValid(t *testing.T) {
	for _, k := range kinds {
		frame := obj(baseFrames[k.typ]...)
		if _, err := Decode([]byte(frame)); err != nil {
			t.Errorf("%s: %v", frame, err)
		}
	}
}

type badCase struct {
	name  string
	frame string
	code  int
	field string // expected Error.Field
	msg   string // expected substring of Error.Msg
}

func badCases() []badCase {
	const pv = ClosePolicyViolation
	long := func(n int) string { return `"` + strings.Repeat("a", n) + `"` }
	reading := func(k, v string) string { return with(TypeReading, k, v) }
	policy := func(k, v string) string { return with(TypePolicy, k, v) }
	idleRange := "an integer in 0..31622400000"

	cs := []badCase{
		// frame level
		{"empty", ``, pv, "", "empty frame"},
		{"whitespace only", " \n\t ", pv, "", "empty frame"},
		{"null", `null`, pv, "", "must be a JSON object, got null"},
		{"array", `[{"type":"heartbeat","session":"s1"}]`, pv, "", "must be a JSON object, got an array"},
		{"string", `"heartbeat"`, pv, "", "must be a JSON object, got a string"},
		{"number", `42`, pv, "", "must be a JSON object, got a number"},
		{"boolean", `true`, pv, "", "must be a JSON object, got a boolean"},
		{"garbage", `hello`, pv, "", "malformed JSON"},
		{"unterminated object", `{"type":"heartbeat","session":"s1"`, pv, "", "malformed JSON"},
		{"unterminated string", `{"type":"heartbeat","session":"s1}`, pv, "", "malformed JSON"},
		{"trailing comma", `{"type":"heartbeat","session":"s1",}`, pv, "", "malformed JSON"},
		{"unquoted key", `{type:"heartbeat","session":"s1"}`, pv, "", "malformed JSON"},
		{"bad literal", `{"type":"reading","session":"s1","idle_ms":1,"agent_desk_foreground":tru,` +
			`"agent_desk_minimized":false,"screen_locked":false,"mic_available":true,"voice":false}`, pv, "", "malformed JSON"},
		{"control char in string", "{\"type\":\"heartbeat\",\"session\":\"s\x011\"}", pv, "", "malformed JSON"},
		{"invalid UTF-8", "{\"type\":\"session_open\",\"session\":\"s1\",\"os_user\":\"j\xffdoe\"}", pv, "", "not valid UTF-8"},
		{"trailing garbage", obj(baseFrames[TypeHeartbeat]...) + ` x`, pv, "", "trailing data after the JSON object at byte 36"},
		{"trailing object", obj(baseFrames[TypeHeartbeat]...) + obj(baseFrames[TypeHeartbeat]...), pv, "", "trailing data"},
		{"trailing brace", obj(baseFrames[TypeHeartbeat]...) + `}`, pv, "", "trailing data"},
		{"trailing malformed", `{"type":"heartbeat","session":"s1"]}`, pv, "", "malformed JSON"},
		{"oversized by padding", obj(baseFrames[TypeHeartbeat]...) + strings.Repeat(" ", MaxFrameBytes), CloseMessageTooBig, "", "exceeds the limit of 4096 bytes"},
		{"oversized string", with(TypeSessionOpen, "os_user", long(MaxFrameBytes)), CloseMessageTooBig, "", "exceeds the limit"},

		// the type member
		{"missing type", `{"session":"s1"}`, pv, "type", "type: required field is missing"},
		{"empty object", `{}`, pv, "type", "type: required field is missing"},
		{"type number", `{"type":5,"session":"s1"}`, pv, "type", "must be a string naming the message type, got a number"},
		{"type null", `{"type":null,"session":"s1"}`, pv, "type", "got null"},
		{"unknown type", `{"type":"bogus","session":"s1"}`, pv, "type", `unknown message type "bogus"`},
		{"type wrong case", `{"type":"Heartbeat","session":"s1"}`, pv, "type", "unknown message type"},
		{"type escaped", `{"type":"heartb\u0065at","session":"s1"}`, pv, "type", "unknown message type"},
		{"duplicate type", `{"type":"heartbeat","type":"heartbeat","session":"s1"}`, pv, "type", `duplicate field "type"`},
		{"type key case", `{"Type":"heartbeat","session":"s1"}`, pv, "type", "type: required field is missing"},

		// members
		{"unknown field title", reading("title", `"Agent Desk - customer 4711"`), pv, "title", `reading: unknown field "title"`},
		{"unknown field nested", reading("extra", `{"title":"x"}`), pv, "extra", `unknown field "extra"`},
		{"field wrong case", strings.Replace(obj(baseFrames[TypeReading]...), `"voice"`, `"Voice"`, 1), pv, "Voice", `unknown field "Voice"`},
		{"field escaped", strings.Replace(obj(baseFrames[TypeReading]...), `"voice"`, `"vo\u0069ce"`, 1), pv, `vo\u0069ce`, "escape sequence"},
		{"duplicate field", obj(append(baseFrames[TypeReading], kv{"voice", "true"})...), pv, "voice", `duplicate field "voice"`},
		{"field of another type", with(TypeHeartbeat, "idle_ms", "5"), pv, "idle_ms", `heartbeat: unknown field "idle_ms"`},
		{"many fields", `{"type":"heartbeat"` + strings.Repeat(`,"a":1`, 40) + `}`, pv, "a", `unknown field "a"`},
		{"type after many fields", `{` + strings.Repeat(`"session":"s1",`, 20) + `"type":"heartbeat"}`, pv, "session", `duplicate field "session"`},

		// idle_ms
		{"idle negative", reading("idle_ms", "-1"), pv, "idle_ms", idleRange + ", got -1"},
		{"idle fraction", reading("idle_ms", "12.5"), pv, "idle_ms", idleRange + ", got number 12.5"},
		{"idle exponent", reading("idle_ms", "1e3"), pv, "idle_ms", idleRange + ", got number 1e3"},
		{"idle string", reading("idle_ms", `"abc"`), pv, "idle_ms", idleRange + ", got a string"},
		{"idle numeric string", reading("idle_ms", `"12"`), pv, "idle_ms", idleRange + ", got a string"},
		{"idle too big", reading("idle_ms", "31622400001"), pv, "idle_ms", idleRange + ", got 31622400001"},
		{"idle overflow", reading("idle_ms", "99999999999999999999999"), pv, "idle_ms", idleRange + ", got number 9999"},
		{"idle bool", reading("idle_ms", "true"), pv, "idle_ms", idleRange + ", got a boolean"},
		{"idle null", reading("idle_ms", "null"), pv, "idle_ms", idleRange + ", got null"},
		{"voice string", reading("voice", `"false"`), pv, "voice", "must be a boolean (true or false), got a string"},
		{"voice number", reading("voice", `0`), pv, "voice", "must be a boolean (true or false), got a number"},
		{"voice null", reading("voice", `null`), pv, "voice", "got null"},
		{"voice object", reading("voice", `{}`), pv, "voice", "got an object"},
		{"screen_locked array", reading("screen_locked", `[true]`), pv, "screen_locked", "got an array"},

		// session
		{"session empty", reading("session", `""`), pv, "session", "got 0 characters"},
		{"session space", reading("session", `"s 1"`), pv, "session", "got character ' ' at position 2"},
		{"session slash", with(TypeHeartbeat, "session", `"a/b"`), pv, "session", "[A-Za-z0-9._:-], got character '/'"},
		{"session non-ASCII", with(TypeSessionClose, "session", `"sé"`), pv, "session", "got character 'é' at position 2"},
		{"session too long", with(TypeWarn, "session", long(MaxSessionLen+1)), pv, "session", "1..64 characters from [A-Za-z0-9._:-], got 65 characters"},
		{"session number", with(TypeWithdraw, "session", `1`), pv, "session", "got a number"},
		{"session object", with(TypeLoggedOut, "session", `{"id":"s1"}`), pv, "session", "got an object"},

		// hello
		{"agent_version empty", with(TypeHello, "agent_version", `""`), pv, "agent_version", "1..64 printable ASCII characters, got 0 characters"},
		{"agent_version too long", with(TypeHello, "agent_version", long(65)), pv, "agent_version", "got 65 characters"},
		{"agent_version tab", with(TypeHello, "agent_version", `"1\t2"`), pv, "agent_version", `got character '\t' at position 2`},
		{"agent_version non-ASCII", with(TypeHello, "agent_version", `"1.0β"`), pv, "agent_version", "got character 'β'"},
		{"os unknown", with(TypeHello, "os", `"plan9"`), pv, "os", `must be one of "linux", "windows", "darwin"`},
		{"os case", with(TypeHello, "os", `"Linux"`), pv, "os", `one of "linux"`},
		{"host empty", with(TypeHello, "host", `""`), pv, "host", "got 0 characters"},
		{"host too long", with(TypeHello, "host", long(254)), pv, "host", "1..253 characters from [A-Za-z0-9._-], got 254 characters"},
		{"host space", with(TypeHello, "host", `"ws 1"`), pv, "host", "got character ' '"},
		{"host colon", with(TypeHello, "host", `"ws:1"`), pv, "host", "got character ':'"},

		// session_open
		{"os_user empty", with(TypeSessionOpen, "os_user", `""`), pv, "os_user", "1..256 characters without control characters, got 0 characters"},
		{"os_user too long", with(TypeSessionOpen, "os_user", long(257)), pv, "os_user", "got 257 characters"},
		{"os_user control", with(TypeSessionOpen, "os_user", `"jdoe\u0007"`), pv, "os_user", "got control character U+0007 at position 5"},
		{"os_user newline", with(TypeSessionOpen, "os_user", `"j\ndoe"`), pv, "os_user", "control character U+000A"},
		{"os_user line separator", with(TypeSessionOpen, "os_user", `"j\u2028doe"`), pv, "os_user", "control character U+2028"},
		{"os_user C1", with(TypeSessionOpen, "os_user", `"j\u0085doe"`), pv, "os_user", "control character U+0085"},

		// policy
		{"timeout_s 29", policy("timeout_s", "29"), pv, "timeout_s", "must be an integer in 30..3600, got 29"},
		{"timeout_s 3601", policy("timeout_s", "3601"), pv, "timeout_s", "must be an integer in 30..3600, got 3601"},
		{"timeout_s fraction", policy("timeout_s", "300.5"), pv, "timeout_s", "in 30..3600, got number 300.5"},
		{"warn_at_s 0", policy("warn_at_s", "0"), pv, "warn_at_s", "must be an integer in 1..timeout_s-1 (1..299), got 0"},
		{"warn_at_s negative", policy("warn_at_s", "-5"), pv, "warn_at_s", "got -5"},
		{"warn_at_s = timeout", policy("warn_at_s", "300"), pv, "warn_at_s", "(1..299), got 300"},
		{"warn_at_s > timeout", policy("warn_at_s", "301"), pv, "warn_at_s", "got 301"},
		{"heartbeat_s 4", policy("heartbeat_s", "4"), pv, "heartbeat_s", "must be an integer in 5..300, got 4"},
		{"heartbeat_s 301", policy("heartbeat_s", "301"), pv, "heartbeat_s", "in 5..300, got 301"},
		{"title_pattern empty", policy("title_pattern", `""`), pv, "title_pattern", "1..512 characters that compiles, got 0 characters"},
		{"title_pattern too long", policy("title_pattern", long(513)), pv, "title_pattern", "got 513 characters"},
		{"title_pattern bad", policy("title_pattern", `"Agent Desk ("`), pv, "title_pattern", "does not compile: missing closing )"},
		{"title_pattern perl", policy("title_pattern", `"(?<=x)y"`), pv, "title_pattern", "does not compile"},
		{"enabled string", policy("enabled", `"yes"`), pv, "enabled", "must be a boolean (true or false), got a string"},
		{"server_time_ms 0", policy("server_time_ms", "0"), pv, "server_time_ms", "must be a unix time in milliseconds, an integer in 1..253402300799999, got 0"},
		{"server_time_ms too big", policy("server_time_ms", "253402300800000"), pv, "server_time_ms", "got 253402300800000"},
		{"server_time_ms seconds float", policy("server_time_ms", "1767225600.5"), pv, "server_time_ms", "got number 1767225600.5"},

		// warn, withdraw, logged_out, error
		{"deadline before server time", with(TypeWarn, "deadline_ms", "1767225599999"), pv, "deadline_ms", "must not be before server_time_ms (1767225600000), got 1767225599999"},
		{"deadline negative", with(TypeWarn, "deadline_ms", "-1"), pv, "deadline_ms", "1..253402300799999, got -1"},
		{"withdraw reason", with(TypeWithdraw, "reason", `"bogus"`), pv, "reason", `must be one of "dismissed", "paused", "settings", "disabled", "desk_logout"`},
		{"withdraw inactivity", with(TypeWithdraw, "reason", `"inactivity"`), pv, "reason", `one of "dismissed"`},
		{"logged_out reason", with(TypeLoggedOut, "reason", `"dismissed"`), pv, "reason", `must be one of "inactivity"`},
		{"at_ms 0", with(TypeLoggedOut, "at_ms", "0"), pv, "at_ms", "got 0"},
		{"error code reserved", with(TypeError, "code", "1005"), pv, "code", "close code that may be sent (1000..1003, 1007..1014, 3000..4999), got 1005"},
		{"error code 999", with(TypeError, "code", "999"), pv, "code", "got 999"},
		{"error code 5000", with(TypeError, "code", "5000"), pv, "code", "got 5000"},
		{"error code 2000", with(TypeError, "code", "2000"), pv, "code", "got 2000"},
		{"error message too long", with(TypeError, "message", long(257)), pv, "message", "0..256 characters without control characters, got 257 characters"},
		{"error message control", with(TypeError, "message", `"a\u0000b"`), pv, "message", "control character U+0000"},
	}

	// Every type: each required member missing, null, of the wrong JSON
	// type, plus an unknown "title" member.
	for _, k := range kinds {
		for _, f := range k.fields {
			cs = append(cs,
				badCase{k.typ + " missing " + f.name, without(k.typ, f.name), pv, f.name,
					k.typ + ": " + f.name + ": required field is missing; must be " + f.want},
				badCase{k.typ + " null " + f.name, with(k.typ, f.name, "null"), pv, f.name,
					k.typ + ": " + f.name + ": must be " + f.want + ", got null"},
				badCase{k.typ + " wrong type " + f.name, with(k.typ, f.name, wrongValue(f)), pv, f.name,
					k.typ + ": " + f.name + ": must be " + f.want + ", got "},
			)
		}
		cs = append(cs, badCase{k.typ + " title", with(k.typ, "title", `"x"`), pv, "title",
			k.typ + `: unknown field "title"`})
	}
	return cs
}

// wrongValue returns a JSON value of the wrong type for f.
func wrongValue(f *field) string {
	switch {
	case strings.HasPrefix(f.want, "a boolean"):
		return `"true"`
	case strings.Contains(f.want, "integer"), f == fCode:
		return `"1"`
	}
	return `true`
}

func TestDecodeInvalid(t *testing.T) {
	for _, c := range badCases() {
		t.Run(c.name, func(t *testing.T) {
			m, err := Decode([]byte(c.frame))
			if err == nil {
				t.Fatalf("Decode(%s) = %#v, want an error", c.frame, m)
			}
			if m != nil {
				t.Errorf("Decode returned a message with the error: %#v", m)
			}
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %T %v is not an *Error", err, err)
			}
			if pe.Code != c.code || CloseCode(err) != c.code {
				t.Errorf("code %d, want %d (%v)", pe.Code, c.code, err)
			}
			if pe.Field != c.field {
				t.Errorf("field %q, want %q (%v)", pe.Field, c.field, err)
			}
			if !strings.Contains(pe.Msg, c.msg) {
				t.Errorf("message %q\ndoes not contain %q", pe.Msg, c.msg)
			}
			if pe.Field != "" && !strings.Contains(pe.Msg, pe.Field) {
				t.Errorf("message %q does not name field %q", pe.Msg, pe.Field)
			}
			if !strings.HasPrefix(err.Error(), "protocol: ") {
				t.Errorf("Error() = %q", err.Error())
			}
		})
	}
}

func TestFrameSizeBoundary(t *testing.T) {
	base := obj(baseFrames[TypeHeartbeat]...)
	exact := base + strings.Repeat(" ", MaxFrameBytes-len(base))
	if _, err := Decode([]byte(exact)); err != nil {
		t.Errorf("frame of exactly %d bytes: %v", len(exact), err)
	}
	if _, err := Decode([]byte(exact + " ")); CloseCode(err) != CloseMessageTooBig {
		t.Errorf("frame of %d bytes: %v, want close code %d", len(exact)+1, err, CloseMessageTooBig)
	}
}

func TestDecodeAcceptsWhitespace(t *testing.T) {
	frame := " \r\n\t{ \"type\" : \"heartbeat\" ,\n \"session\" : \"s1\" } \n"
	m, err := Decode([]byte(frame))
	if err != nil || m != (Heartbeat{Session: "s1"}) {
		t.Fatalf("Decode = %#v, %v", m, err)
	}
}

func TestDecodeMemberOrderIrrelevant(t *testing.T) {
	frame := `{"voice":true,"session":"s1","mic_available":true,"screen_locked":false,` +
		`"agent_desk_minimized":false,"agent_desk_foreground":true,"idle_ms":-0,"type":"reading"}`
	m, err := Decode([]byte(frame))
	want := Reading{Session: "s1", AgentDeskForeground: true, MicAvailable: true, Voice: true}
	if err != nil || m != want {
		t.Fatalf("Decode = %#v, %v", m, err)
	}
}

func TestEncodeInvalid(t *testing.T) {
	cases := []struct {
		m     Message
		code  int
		field string
	}{
		{nil, ClosePolicyViolation, ""},
		{(*Reading)(nil), ClosePolicyViolation, ""},
		{Reading{Session: "s1", IdleMS: -1}, ClosePolicyViolation, "idle_ms"},
		{Reading{Session: "", IdleMS: 1}, ClosePolicyViolation, "session"},
		{&Hello{AgentVersion: "1", OS: "beos", Host: "h"}, ClosePolicyViolation, "os"},
		{SessionOpen{Session: "s1", OSUser: "bad\xffutf8"}, ClosePolicyViolation, "os_user"},
		{Policy{TimeoutS: 300, WarnAtS: 240, TitlePattern: "x", HeartbeatS: 30}, ClosePolicyViolation, "server_time_ms"},
		{Policy{TimeoutS: 300, WarnAtS: 240, TitlePattern: "\xff", HeartbeatS: 30, ServerTimeMS: 1}, ClosePolicyViolation, "title_pattern"},
		{ErrorMessage{Code: 1006}, ClosePolicyViolation, "code"},
	}
	for _, c := range cases {
		frame, err := Encode(c.m)
		var pe *Error
		if !errors.As(err, &pe) || pe.Code != c.code || pe.Field != c.field {
			t.Errorf("Encode(%#v) = %s, %v; want code %d field %q", c.m, frame, err, c.code, c.field)
		}
	}
}

func TestErrorMessagesDoNotQuoteStringContent(t *testing.T) {
	const secret = "Customer 4711 - Jane Roe"
	frames := []string{
		with(TypeSessionOpen, "os_user", `"`+secret+`\u0007"`),
		with(TypeReading, "session", `"`+secret+`"`),
		with(TypeHello, "host", `"`+secret+`"`),
		with(TypeHello, "os", `"`+secret+`"`),
		with(TypeWithdraw, "reason", `"`+secret+`"`),
		with(TypeError, "message", `"`+secret+`\n"`),
		with(TypePolicy, "title_pattern", `"(`+secret+`"`),
	}
	for _, f := range frames {
		_, err := Decode([]byte(f))
		if err == nil || strings.Contains(err.Error(), "4711") {
			t.Errorf("Decode(%s) error %v quotes the value", f, err)
		}
	}
}

func TestCloseCode(t *testing.T) {
	pe := &Error{Code: CloseUnauthorized, Msg: "bad token"}
	for _, c := range []struct {
		err  error
		want int
	}{
		{nil, CloseNormal},
		{pe, CloseUnauthorized},
		{fmt.Errorf("hub: %w", pe), CloseUnauthorized},
		{errors.New("boom"), CloseInternalError},
	} {
		if got := CloseCode(c.err); got != c.want {
			t.Errorf("CloseCode(%v) = %d, want %d", c.err, got, c.want)
		}
	}
	codes := map[string]int{"1002": CloseProtocolError, "1008": ClosePolicyViolation, "1009": CloseMessageTooBig,
		"4001": CloseUnauthorized, "4003": CloseDeviceRevoked, "4004": CloseUnsupportedVersion, "4005": CloseNotLeader}
	for s, c := range codes {
		if fmt.Sprint(c) != s {
			t.Errorf("close code %d, want %s", c, s)
		}
	}
}

func TestNewErrorMessage(t *testing.T) {
	m := NewErrorMessage(&Error{Code: CloseDeviceRevoked, Msg: "bound\nelsewhere"})
	if m.Code != CloseDeviceRevoked || m.Message != "bound elsewhere" {
		t.Errorf("NewErrorMessage = %#v", m)
	}
	m = NewErrorMessage(errors.New(strings.Repeat("x\x00\xff", 200)))
	if m.Code != CloseInternalError {
		t.Errorf("code %d", m.Code)
	}
	if _, err := Encode(m); err != nil {
		t.Errorf("Encode(NewErrorMessage(...)): %v", err)
	}
	_, err := Decode([]byte(`{"type":"reading"`))
	if _, err := Encode(NewErrorMessage(err)); err != nil {
		t.Errorf("Encode(NewErrorMessage(decode error)): %v", err)
	}
}

// The examples in docs/protocol.md must be valid, cover every type, and
// encode exactly as shown.
func TestDocExamples(t *testing.T) {
	doc, err := os.ReadFile("../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, block := range regexp.MustCompile("(?s)```json\n(.*?)```").FindAllSubmatch(doc, -1) {
		frame := bytes.TrimSpace(block[1])
		m, err := Decode(frame)
		if err != nil {
			t.Errorf("example %s: %v", frame, err)
			continue
		}
		seen[m.Type()] = true
		if enc, _ := Encode(m); !bytes.Equal(enc, frame) {
			t.Errorf("example\n%s\nencodes as\n%s", frame, enc)
		}
	}
	for _, k := range kinds {
		if !seen[k.typ] {
			t.Errorf("docs/protocol.md has no example of %q", k.typ)
		}
	}
}

// Every kind's member list (used by the decoder) matches its Go struct.
func TestKindsMatchStructs(t *testing.T) {
	for _, m := range validMessages {
		k := lookupKind([]byte(m.Type()))
		if k == nil || k.dir != m.Direction() {
			t.Fatalf("%s: kind %#v", m.Type(), k)
		}
		want := []string{"type"}
		for _, f := range k.fields {
			want = append(want, f.name)
		}
		if got := jsonKeys(t, m.wire()); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: struct keys %v, decoder keys %v", m.Type(), got, want)
		}
	}
}

func TestEncodeIsCompactAndKeepsHTML(t *testing.T) {
	frame, err := Encode(SessionOpen{Session: "s1", OSUser: "a<b>&c"})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"type":"session_open","session":"s1","os_user":"a<b>&c"}`; string(frame) != want {
		t.Errorf("Encode = %s, want %s", frame, want)
	}
	var v map[string]any
	if err := json.Unmarshal(frame, &v); err != nil {
		t.Fatal(err)
	}
}
