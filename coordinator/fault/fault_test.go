package fault

import (
	"errors"
	"fmt"
	"testing"
)

func TestKinds(t *testing.T) {
	for _, tc := range []struct {
		err       error
		kind, not error
		text      string
	}{
		{Invalidf("note must be at most %d characters", 200), ErrInvalid, ErrConflict, "note must be at most 200 characters"},
		{Conflictf("device %s is revoked", "d1"), ErrConflict, ErrInvalid, "device d1 is revoked"},
	} {
		wrapped := fmt.Errorf("doing it: %w", tc.err)
		if !errors.Is(wrapped, tc.kind) || errors.Is(wrapped, tc.not) {
			t.Errorf("%v: want it %v and not %v", tc.err, tc.kind, tc.not)
		}
		if tc.err.Error() != tc.text {
			t.Errorf("text %q, want %q: the message alone, for a person", tc.err, tc.text)
		}
	}
}
