package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// FuzzDecode checks that Decode never panics, fails only with an *Error
// carrying an invalid-message close code, and that whatever it accepts
// re-encodes to a frame that decodes to the same message (and encodes to the
// same bytes again). `make fuzz` runs it for 30 s.
func FuzzDecode(f *testing.F) {
	for _, m := range validMessages {
		frame, err := Encode(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(frame)
	}
	for _, k := range kinds {
		f.Add([]byte(obj(baseFrames[k.typ]...)))
	}
	for _, c := range badCases() {
		f.Add([]byte(c.frame))
	}

	f.Fuzz(func(t *testing.T, frame []byte) {
		m, err := Decode(frame)
		if err != nil {
			if m != nil {
				t.Fatalf("Decode returned %#v with error %v", m, err)
			}
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %T %v is not an *Error", err, err)
			}
			switch pe.Code {
			case ClosePolicyViolation:
			case CloseMessageTooBig:
				if len(frame) <= MaxFrameBytes {
					t.Fatalf("close code %d for a frame of %d bytes", pe.Code, len(frame))
				}
			default:
				t.Fatalf("unexpected close code %d: %v", pe.Code, err)
			}
			if pe.Msg == "" {
				t.Fatal("empty error message")
			}
			// The structural scanner must never call valid JSON malformed,
			// nor find trailing data after a single valid JSON value.
			if len(frame) <= MaxFrameBytes && json.Valid(frame) &&
				(strings.HasPrefix(pe.Msg, "malformed JSON") || strings.HasPrefix(pe.Msg, "trailing data")) {
				t.Fatalf("valid JSON %q refused as %v", frame, err)
			}
			return
		}

		// Exactly one direction accepts it, with the same result.
		fromAgent, errA := DecodeFromAgent(frame)
		fromCoord, errC := DecodeFromCoordinator(frame)
		switch m.Direction() {
		case FromAgent:
			if errA != nil || fromAgent != m || errC == nil {
				t.Fatalf("agent message %#v: DecodeFromAgent %v, DecodeFromCoordinator %v", m, errA, errC)
			}
		case FromCoordinator:
			if errC != nil || fromCoord != m || errA == nil {
				t.Fatalf("coordinator message %#v: DecodeFromCoordinator %v, DecodeFromAgent %v", m, errC, errA)
			}
		default:
			t.Fatalf("message %#v has direction %v", m, m.Direction())
		}

		enc, err := Encode(m)
		if err != nil {
			t.Fatalf("decoded %q into %#v, which does not encode: %v", frame, m, err)
		}
		m2, err := Decode(enc)
		if err != nil {
			t.Fatalf("re-encoded %#v as %s, which does not decode: %v", m, enc, err)
		}
		if m2 != m {
			t.Fatalf("round trip changed the message:\n got %#v\nwant %#v", m2, m)
		}
		enc2, err := Encode(m2)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not stable: %s vs %s (%v)", enc, enc2, err)
		}
	})
}
