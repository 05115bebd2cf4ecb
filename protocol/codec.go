package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"unicode/utf8"
)

// kind describes one message type for the decoder.
type kind struct {
	typ    string
	dir    Direction
	fields []*field // the members besides "type"; every one is required
	decode func(*json.Decoder) (Message, error)
}

func decodeWire[W any](get func(*W) Message) func(*json.Decoder) (Message, error) {
	return func(dec *json.Decoder) (Message, error) {
		var w W
		if err := dec.Decode(&w); err != nil {
			return nil, err
		}
		return get(&w), nil
	}
}

var kinds = [...]kind{
	{TypeHello, FromAgent, []*field{fAgentVersion, fOS, fHost},
		decodeWire(func(w *helloWire) Message { return w.Hello })},
	{TypeSessionOpen, FromAgent, []*field{fSession, fOSUser},
		decodeWire(func(w *sessionOpenWire) Message { return w.SessionOpen })},
	{TypeReading, FromAgent, []*field{fSession, fIdleMS, fAgentDeskForeground, fAgentDeskMinimized,
		fScreenLocked, fMicAvailable, fVoice},
		decodeWire(func(w *readingWire) Message { return w.Reading })},
	{TypeHeartbeat, FromAgent, []*field{fSession},
		decodeWire(func(w *heartbeatWire) Message { return w.Heartbeat })},
	{TypeSessionClose, FromAgent, []*field{fSession},
		decodeWire(func(w *sessionCloseWire) Message { return w.SessionClose })},
	{TypePolicy, FromCoordinator, []*field{fEnabled, fTimeoutS, fWarnAtS, fTitlePattern, fHeartbeatS, fServerTimeMS},
		decodeWire(func(w *policyWire) Message { return w.Policy })},
	{TypeWarn, FromCoordinator, []*field{fSession, fDeadlineMS, fServerTimeMS},
		decodeWire(func(w *warnWire) Message { return w.Warn })},
	{TypeWithdraw, FromCoordinator, []*field{fSession, fWithdrawReason},
		decodeWire(func(w *withdrawWire) Message { return w.Withdraw })},
	{TypeLoggedOut, FromCoordinator, []*field{fSession, fLoggedOutReason, fAtMS},
		decodeWire(func(w *loggedOutWire) Message { return w.LoggedOut })},
	{TypeSessionRefused, FromCoordinator, []*field{fSession, fRefusedReason},
		decodeWire(func(w *sessionRefusedWire) Message { return w.SessionRefused })},
	{TypeError, FromCoordinator, []*field{fCode, fMessage},
		decodeWire(func(w *errorWire) Message { return w.ErrorMessage })},
}

func lookupKind(typ []byte) *kind {
	for i := range kinds {
		if string(typ) == kinds[i].typ {
			return &kinds[i]
		}
	}
	return nil
}

func (k *kind) field(name string) *field {
	for _, f := range k.fields {
		if f.name == name {
			return f
		}
	}
	return nil
}

// Decode decodes one frame into a message of either direction; callers
// that know who sent the frame should use DecodeFromAgent or
// DecodeFromCoordinator. The result is a value (Hello, Reading, ...), never
// a pointer. On failure the error is an *Error; see CloseCode.
func Decode(frame []byte) (Message, error) { return decode(frame, 0) }

// DecodeFromAgent is Decode for frames received from an agent: it refuses
// coordinator→agent message types.
func DecodeFromAgent(frame []byte) (Message, error) { return decode(frame, FromAgent) }

// DecodeFromCoordinator is Decode for frames received from the coordinator:
// it refuses agent→coordinator message types.
func DecodeFromCoordinator(frame []byte) (Message, error) { return decode(frame, FromCoordinator) }

func frameError(code int, format string, args ...any) error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

func decode(frame []byte, want Direction) (Message, error) {
	if len(frame) > MaxFrameBytes {
		return nil, frameError(CloseMessageTooBig, "frame of %d bytes exceeds the limit of %d bytes",
			len(frame), MaxFrameBytes)
	}
	start := skipWS(frame, 0)
	if start == len(frame) {
		return nil, frameError(ClosePolicyViolation, "empty frame: expected a JSON object")
	}
	if frame[start] != '{' {
		if !json.Valid(frame) {
			return nil, syntaxError(frame)
		}
		return nil, frameError(ClosePolicyViolation, "frame must be a JSON object, got %s",
			describeKind(frame[start]))
	}
	if !utf8.Valid(frame) {
		return nil, frameError(ClosePolicyViolation, "frame is not valid UTF-8")
	}

	var s scan
	switch end := s.object(frame, start); {
	case end < 0:
		return nil, syntaxError(frame)
	case skipWS(frame, end) != len(frame):
		if !json.Valid(frame[:end]) {
			return nil, syntaxError(frame)
		}
		return nil, frameError(ClosePolicyViolation, "trailing data after the JSON object at byte %d",
			skipWS(frame, end))
	}

	k, err := s.check(frame, want)
	if err != nil {
		if !json.Valid(frame) { // report malformed JSON in preference to anything else
			return nil, syntaxError(frame)
		}
		return nil, err
	}

	dec := json.NewDecoder(bytes.NewReader(frame))
	// Redundant with s.check, which already admitted only the fields of k
	// (exact case, once each); kept as a second line of defence.
	dec.DisallowUnknownFields()
	m, err := k.decode(dec)
	if err != nil {
		return nil, jsonError(frame, k, err)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}

// check validates the members found by object against the message type:
// "type" must be a known type name (of direction want, if non-zero); the
// other members must be exactly that type's fields, each once, spelled
// exactly, and not null.
func (s *scan) check(frame []byte, want Direction) (*kind, error) {
	if s.typ < 0 {
		return nil, &Error{Code: ClosePolicyViolation, Field: "type",
			Msg: "type: required field is missing; must be a message type name: " + typeList(want)}
	}
	tm := &s.members[s.typ]
	if frame[tm.value] != '"' {
		return nil, &Error{Code: ClosePolicyViolation, Field: "type",
			Msg: "type: must be a string naming the message type, got " + describeKind(frame[tm.value])}
	}
	name := frame[tm.value+1 : tm.valueEnd-1]
	k := lookupKind(name)
	if k == nil {
		return nil, &Error{Code: ClosePolicyViolation, Field: "type",
			Msg: fmt.Sprintf("type: unknown message type %s; must be one of %s", clip(name), typeList(want))}
	}
	if want != 0 && k.dir != want {
		return nil, &Error{Code: ClosePolicyViolation, Field: "type",
			Msg: fmt.Sprintf("type: message type %q is sent by the %s, not by the %s", k.typ, k.dir, want)}
	}

	var seen uint16 // bit 0: "type"; bit i+1: k.fields[i]
	for i := range s.n {
		m := &s.members[i]
		key := frame[m.key:m.keyEnd]
		if bytes.IndexByte(key, '\\') >= 0 {
			return nil, &Error{Code: ClosePolicyViolation, Field: string(key),
				Msg: fmt.Sprintf("%s: field name %s contains an escape sequence; field names must be written literally",
					k.typ, clip(key))}
		}
		bit, f := -1, (*field)(nil)
		if string(key) == "type" {
			bit = 0
		} else {
			for j, kf := range k.fields {
				if string(key) == kf.name {
					bit, f = j+1, kf
					break
				}
			}
		}
		if bit < 0 {
			return nil, &Error{Code: ClosePolicyViolation, Field: string(key),
				Msg: fmt.Sprintf("%s: unknown field %s; the fields of %s are: %s",
					k.typ, clip(key), k.typ, fieldList(k))}
		}
		if seen&(1<<bit) != 0 {
			return nil, &Error{Code: ClosePolicyViolation, Field: string(key),
				Msg: fmt.Sprintf("%s: duplicate field %q", k.typ, key)}
		}
		seen |= 1 << bit
		if f != nil && frame[m.value] == 'n' {
			return nil, fieldError(k.typ, f, "must be %s, got null", f.want)
		}
	}
	if s.more {
		// Unreachable: more than len(s.members) members always include an
		// unknown or duplicate one among those recorded.
		return nil, frameError(ClosePolicyViolation, "%s: too many fields", k.typ)
	}
	for j, f := range k.fields {
		if seen&(1<<(j+1)) == 0 {
			return nil, fieldError(k.typ, f, "required field is missing; must be %s", f.want)
		}
	}
	return k, nil
}

// jsonError converts an error of encoding/json into an *Error.
func jsonError(frame []byte, k *kind, err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		name := te.Field
		if i := strings.LastIndexByte(name, '.'); i >= 0 {
			name = name[i+1:]
		}
		if f := k.field(name); f != nil {
			return fieldError(k.typ, f, "must be %s, got %s", f.want, describeValue(te.Value))
		}
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return syntaxError(frame)
	}
	return frameError(ClosePolicyViolation, "%s: %s", k.typ, strings.TrimPrefix(err.Error(), "json: "))
}

// syntaxError describes why frame is not valid JSON.
func syntaxError(frame []byte) error {
	var raw json.RawMessage
	err := json.Unmarshal(frame, &raw)
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return frameError(ClosePolicyViolation, "malformed JSON at byte %d: %s", se.Offset, se.Error())
	}
	return frameError(ClosePolicyViolation, "malformed JSON")
}

// describeKind names the JSON value that starts with c.
func describeKind(c byte) string {
	switch c {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// describeValue rephrases json.UnmarshalTypeError.Value ("string",
// "number 12.5", "bool", ...).
func describeValue(v string) string {
	switch v {
	case "bool":
		return "a boolean"
	case "string", "number":
		return "a " + v
	case "object", "array":
		return "an " + v
	}
	if num, ok := strings.CutPrefix(v, "number "); ok {
		if len(num) > 32 {
			num = num[:32] + "..."
		}
		return "number " + num
	}
	return v
}

// clip quotes a name or type taken from a frame for an error message, as
// written in the frame (JSON escapes are not interpreted), shortened to at
// most 40 bytes. It is only used once the frame is known to be valid JSON
// and UTF-8, so the text has no control characters or bare quotes.
func clip(b []byte) string {
	if len(b) <= 40 {
		return `"` + string(b) + `"`
	}
	n := 40
	for n > 0 && !utf8.RuneStart(b[n]) {
		n--
	}
	return `"` + string(b[:n]) + `..."`
}

func typeList(want Direction) string {
	var names []string
	for _, k := range kinds {
		if want == 0 || k.dir == want {
			names = append(names, k.typ)
		}
	}
	return quoteList(names)
}

func fieldList(k *kind) string {
	names := []string{"type"}
	for _, f := range k.fields {
		names = append(names, f.name)
	}
	return strings.Join(names, ", ")
}

// Encode validates m and returns its frame: a JSON object with the "type"
// member first, then the fields in declaration order. m may be a message
// value or a non-nil pointer to one.
func Encode(m Message) ([]byte, error) {
	if m == nil {
		return nil, frameError(ClosePolicyViolation, "cannot encode a nil message")
	}
	if rv := reflect.ValueOf(m); rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return nil, frameError(ClosePolicyViolation, "cannot encode a nil %T", m)
		}
		m = rv.Elem().Interface().(Message)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m.wire()); err != nil {
		return nil, frameError(CloseInternalError, "%s: %v", m.Type(), err)
	}
	b := bytes.TrimSuffix(buf.Bytes(), []byte{'\n'})
	if len(b) > MaxFrameBytes {
		return nil, frameError(CloseMessageTooBig, "%s: encoded frame of %d bytes exceeds the limit of %d bytes",
			m.Type(), len(b), MaxFrameBytes)
	}
	return b, nil
}

// ---- a minimal structural scanner for the top-level object ----
//
// It finds the top-level members (name and value positions) without
// allocating. It only tracks structure (strings, nesting, separators), so it
// may accept some invalid JSON; encoding/json, which decodes the frame
// afterwards, is the judge of validity. It must never reject valid JSON.

// maxMembers is how many members are recorded. No message has more than 8,
// so a frame with more always has an unknown or duplicate member among the
// first maxMembers.
const maxMembers = 16

type member struct {
	key, keyEnd     int // the name, without quotes: frame[key:keyEnd]
	value, valueEnd int // the value: frame[value:valueEnd]
}

type scan struct {
	members [maxMembers]member
	n       int  // members recorded
	more    bool // there were more than maxMembers members
	typ     int  // index in members of the first literal "type" member, -1 if none
}

func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipWS(b []byte, i int) int {
	for i < len(b) && isWS(b[i]) {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i] == '"',
// or -1 if it is not terminated.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return -1
}

// skipValue returns the index after the value starting at b[i], or -1.
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				if i = skipString(b, i); i < 0 {
					return -1
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return -1
	}
	j := i
	for j < len(b) && !isWS(b[j]) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ':' {
		j++
	}
	if j == i {
		return -1
	}
	return j
}

// object scans the object starting at b[i] == '{' and returns the index
// after its closing brace, or -1 if the structure is broken.
func (s *scan) object(b []byte, i int) int {
	s.typ = -1
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return -1
		}
		key := i + 1
		j := skipString(b, i)
		if j < 0 {
			return -1
		}
		keyEnd := j - 1
		i = skipWS(b, j)
		if i >= len(b) || b[i] != ':' {
			return -1
		}
		i = skipWS(b, i+1)
		if i >= len(b) {
			return -1
		}
		value := i
		if i = skipValue(b, i); i < 0 {
			return -1
		}
		isType := string(b[key:keyEnd]) == "type"
		if s.n < maxMembers {
			if isType && s.typ < 0 {
				s.typ = s.n
			}
			s.members[s.n] = member{key, keyEnd, value, i}
			s.n++
		} else {
			s.more = true
			if isType && s.typ < 0 {
				// Keep the type so the error can name the message type;
				// the last slot is reused (an error is certain anyway).
				s.typ = maxMembers - 1
				s.members[s.typ] = member{key, keyEnd, value, i}
			}
		}
		i = skipWS(b, i)
		if i >= len(b) {
			return -1
		}
		switch b[i] {
		case ',':
			i = skipWS(b, i+1)
		case '}':
			return i + 1
		default:
			return -1
		}
	}
}
