package protocol

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// field describes one JSON member: its name and, for error messages, what
// values it allows.
type field struct {
	name string
	want string // completes "must be ..."
	enum []string
}

func quoteList(vs []string) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = strconv.Quote(v)
	}
	return strings.Join(q, ", ")
}

func enumField(name string, vs ...string) *field {
	return &field{name: name, want: "one of " + quoteList(vs), enum: vs}
}

func boolField(name string) *field {
	return &field{name: name, want: "a boolean (true or false)"}
}

func intField(name string, lo, hi int64) *field {
	return &field{name: name, want: fmt.Sprintf("an integer in %d..%d", lo, hi)}
}

func timeField(name string) *field {
	return &field{name: name, want: fmt.Sprintf("a unix time in milliseconds, an integer in 1..%d", MaxTimeMS)}
}

var (
	fAgentVersion = &field{name: "agent_version",
		want: fmt.Sprintf("a string of 1..%d printable ASCII characters", MaxAgentVersionLen)}
	fOS   = enumField("os", OSLinux, OSWindows, OSDarwin)
	fHost = &field{name: "host",
		want: fmt.Sprintf("a host name: a string of 1..%d characters from [A-Za-z0-9._-]", MaxHostLen)}
	fSession = &field{name: "session",
		want: fmt.Sprintf("a session id: a string of 1..%d characters from [A-Za-z0-9._:-]", MaxSessionLen)}
	fOSUser = &field{name: "os_user",
		want: fmt.Sprintf("a string of 1..%d characters without control characters", MaxOSUserLen)}
	fIdleMS              = intField("idle_ms", 0, MaxIdleMS)
	fAgentDeskForeground = boolField("agent_desk_foreground")
	fAgentDeskMinimized  = boolField("agent_desk_minimized")
	fScreenLocked        = boolField("screen_locked")
	fMicAvailable        = boolField("mic_available")
	fVoice               = boolField("voice")

	fEnabled      = boolField("enabled")
	fTimeoutS     = intField("timeout_s", MinTimeoutS, MaxTimeoutS)
	fWarnAtS      = &field{name: "warn_at_s", want: "an integer in 1..timeout_s-1"}
	fTitlePattern = &field{name: "title_pattern",
		want: fmt.Sprintf("a Go (RE2) regular expression of 1..%d characters that compiles", MaxTitlePatternLen)}
	fHeartbeatS      = intField("heartbeat_s", MinHeartbeatS, MaxHeartbeatS)
	fServerTimeMS    = timeField("server_time_ms")
	fDeadlineMS      = timeField("deadline_ms")
	fWithdrawReason  = enumField("reason", ReasonDismissed, ReasonPaused, ReasonSettings, ReasonDisabled, ReasonDeskLogout)
	fLoggedOutReason = enumField("reason", ReasonInactivity)
	fRefusedReason   = enumField("reason", RefusedUserBound, RefusedTooManySessions)
	fAtMS            = timeField("at_ms")
	fCode            = &field{name: "code", want: "a WebSocket close code that may be sent (1000..1003, 1007..1014, 3000..4999)"}
	fMessage         = &field{name: "message",
		want: fmt.Sprintf("a string of 0..%d characters without control characters", MaxErrorMessageLen)}
)

// fieldError returns an *Error for field f of message type typ.
func fieldError(typ string, f *field, format string, args ...any) error {
	return &Error{
		Code:  ClosePolicyViolation,
		Field: f.name,
		Msg:   typ + ": " + f.name + ": " + fmt.Sprintf(format, args...),
	}
}

// first returns the first non-nil error.
func first(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func checkRange(typ string, f *field, v, lo, hi int64) error {
	if v < lo || v > hi {
		return fieldError(typ, f, "must be %s, got %d", f.want, v)
	}
	return nil
}

func checkEnum(typ string, f *field, s string) error {
	for _, v := range f.enum {
		if s == v {
			return nil
		}
	}
	// The value is not quoted: only the allowed values are shown.
	return fieldError(typ, f, "must be %s, got another string (%d characters)", f.want, utf8.RuneCountInString(s))
}

// checkASCII checks that s has 1..max characters, each accepted by ok.
func checkASCII(typ string, f *field, s string, max int, ok func(byte) bool) error {
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			r, _ := utf8.DecodeRuneInString(s[i:])
			return fieldError(typ, f, "must be %s, got character %q at position %d",
				f.want, r, utf8.RuneCountInString(s[:i])+1)
		}
	}
	if len(s) == 0 || len(s) > max {
		return fieldError(typ, f, "must be %s, got %d characters", f.want, len(s))
	}
	return nil
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func isSessionByte(c byte) bool {
	return isAlnum(c) || c == '.' || c == '_' || c == ':' || c == '-'
}

func isHostByte(c byte) bool { return isAlnum(c) || c == '.' || c == '_' || c == '-' }

func isPrintableASCII(c byte) bool { return c >= 0x20 && c <= 0x7e }

func checkSession(typ, s string) error {
	return checkASCII(typ, fSession, s, MaxSessionLen, isSessionByte)
}

func checkHost(typ, s string) error {
	return checkASCII(typ, fHost, s, MaxHostLen, isHostByte)
}

func checkPrintable(typ string, f *field, s string) error {
	return checkASCII(typ, f, s, MaxAgentVersionLen, isPrintableASCII)
}

// isControl reports control characters: C0, DEL, C1, and the Unicode line
// and paragraph separators (which would let a value forge log lines).
func isControl(r rune) bool {
	return unicode.IsControl(r) || r == '\u2028' || r == '\u2029'
}

// checkText checks valid UTF-8 free of control characters, min..max characters.
func checkText(typ string, f *field, s string, min, max int) error {
	if !utf8.ValidString(s) {
		return fieldError(typ, f, "must be %s, got invalid UTF-8", f.want)
	}
	n := 0
	for _, r := range s {
		n++
		if isControl(r) {
			return fieldError(typ, f, "must be %s, got control character %U at position %d", f.want, r, n)
		}
	}
	if n < min || n > max {
		return fieldError(typ, f, "must be %s, got %d characters", f.want, n)
	}
	return nil
}

func checkPattern(s string) error {
	if !utf8.ValidString(s) {
		return fieldError(TypePolicy, fTitlePattern, "must be %s, got invalid UTF-8", fTitlePattern.want)
	}
	if n := utf8.RuneCountInString(s); n == 0 || n > MaxTitlePatternLen {
		return fieldError(TypePolicy, fTitlePattern, "must be %s, got %d characters", fTitlePattern.want, n)
	}
	if _, err := regexp.Compile(s); err != nil {
		reason := "invalid"
		var se *syntax.Error
		if errors.As(err, &se) {
			reason = string(se.Code) // the code only: the message would quote the pattern
		}
		return fieldError(TypePolicy, fTitlePattern, "must be %s, got a pattern that does not compile: %s",
			fTitlePattern.want, reason)
	}
	return nil
}
