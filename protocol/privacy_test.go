package protocol

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// The privacy rule, exhaustively: what may leave a workstation. If this test
// fails because a field was added to an agent→coordinator message, the
// change needs a privacy review and an update of docs/protocol.md, not just
// of this list.
var allowedAgentKeys = map[string][]string{
	TypeHello:        {"type", "agent_version", "os", "host"},
	TypeSessionOpen:  {"type", "session", "os_user"},
	TypeReading:      {"type", "session", "idle_ms", "agent_desk_foreground", "agent_desk_minimized", "screen_locked", "mic_available", "voice"},
	TypeHeartbeat:    {"type", "session"},
	TypeSessionClose: {"type", "session"},
}

// agentMessages has the zero value of every agent→coordinator type.
var agentMessages = []Message{Hello{}, SessionOpen{}, Reading{}, Heartbeat{}, SessionClose{}}

// jsonKeys lists the JSON member names a value of v's type is marshalled
// with, following embedded structs, and fails unless every member is a
// string, bool or integer (nothing that could nest other data).
func jsonKeys(t *testing.T, v any) []string {
	t.Helper()
	var keys []string
	var walk func(reflect.Type)
	walk = func(rt reflect.Type) {
		for i := range rt.NumField() {
			f := rt.Field(i)
			tag, hasTag := f.Tag.Lookup("json")
			if f.Anonymous && f.Type.Kind() == reflect.Struct && !hasTag {
				walk(f.Type)
				continue
			}
			if !f.IsExported() || tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			if name == "" {
				name = f.Name
			}
			if opts != "" {
				t.Errorf("%s.%s: json options %q are not allowed", rt, f.Name, opts)
			}
			switch f.Type.Kind() {
			case reflect.String, reflect.Bool, reflect.Int, reflect.Int64:
			default:
				t.Errorf("%s.%s: kind %s could carry nested data", rt, f.Name, f.Type.Kind())
			}
			keys = append(keys, name)
		}
	}
	walk(reflect.TypeOf(v))
	return keys
}

func TestPrivacyAgentMessageKeys(t *testing.T) {
	// Every agent→coordinator type known to the decoder is listed here.
	var agentTypes []string
	for _, k := range kinds {
		if k.dir == FromAgent {
			agentTypes = append(agentTypes, k.typ)
		}
	}
	var listed []string
	for _, m := range agentMessages {
		listed = append(listed, m.Type())
	}
	slices.Sort(agentTypes)
	slices.Sort(listed)
	if !slices.Equal(agentTypes, listed) {
		t.Fatalf("agent→coordinator types %v, privacy test covers %v", agentTypes, listed)
	}

	union := map[string]bool{}
	for _, m := range agentMessages {
		got := jsonKeys(t, m.wire())
		want := allowedAgentKeys[m.Type()]
		if !slices.Equal(got, want) {
			t.Errorf("%s carries %v; allowed: %v", m.Type(), got, want)
		}
		for _, k := range got {
			union[k] = true
		}
	}

	// The exhaustive list: agent version, OS, host name, OS user, session
	// id, idle milliseconds and five booleans, plus the message type.
	exhaustive := []string{"type", "agent_version", "os", "host", "os_user", "session", "idle_ms",
		"agent_desk_foreground", "agent_desk_minimized", "screen_locked", "mic_available", "voice"}
	var keys []string
	for k := range union {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	slices.Sort(exhaustive)
	if !slices.Equal(keys, exhaustive) {
		t.Errorf("agent→coordinator messages can carry %v; the privacy rule allows exactly %v", keys, exhaustive)
	}
}

// What Encode actually writes for agent messages has only allowed keys.
func TestPrivacyEncodedAgentFrames(t *testing.T) {
	for _, m := range validMessages {
		if m.Direction() != FromAgent {
			continue
		}
		frame, err := Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		var members map[string]json.RawMessage
		if err := json.Unmarshal(frame, &members); err != nil {
			t.Fatal(err)
		}
		for k := range members {
			if !slices.Contains(allowedAgentKeys[m.Type()], k) {
				t.Errorf("%s frame carries %q: %s", m.Type(), k, frame)
			}
		}
	}
}

// Extra members are refused on every agent→coordinator type, whatever
// their name or spelling.
func TestPrivacyExtraMembersRefused(t *testing.T) {
	extras := []kv{
		{"title", `"Agent Desk - Customer 4711"`},
		{"window_title", `"x"`},
		{"keys", `"hunter2"`},
		{"audio", `[0,1,2]`},
		{"meta", `{"title":"x"}`},
		{"TITLE", `"x"`},
		{"Session", `"s2"`}, // a case variant of an allowed name
		{"", `"x"`},
	}
	for _, m := range agentMessages {
		for _, e := range extras {
			frame := with(m.Type(), e.k, e.v)
			if _, err := DecodeFromAgent([]byte(frame)); CloseCode(err) != ClosePolicyViolation {
				t.Errorf("DecodeFromAgent(%s) = %v, want a policy violation", frame, err)
			}
		}
	}
}
