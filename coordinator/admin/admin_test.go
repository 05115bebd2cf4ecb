package admin

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestCheckName(t *testing.T) {
	for _, tc := range []struct {
		err  error
		kind error
		text string
	}{
		{CheckName("user", ""), ErrInvalid, "user must be 1 to 256 characters"},
		{CheckName("user", "a\x00b"), ErrInvalid, "no control characters"},
		{CheckName("user", strings.Repeat("x", 257)), ErrInvalid, "user must be 1 to 256"},
	} {
		wrapped := fmt.Errorf("doing it: %w", tc.err)
		if !errors.Is(wrapped, tc.kind) {
			t.Errorf("%v is not %v", tc.err, tc.kind)
		}
		if errors.Is(tc.err, ErrInvalid) && errors.Is(tc.err, ErrConflict) {
			t.Errorf("%v is both kinds", tc.err)
		}
		if !strings.Contains(tc.err.Error(), tc.text) || strings.HasPrefix(tc.err.Error(), tc.kind.Error()) {
			t.Errorf("text %q: want the message %q alone, for a person", tc.err, tc.text)
		}
	}
	if err := CheckName("user", "jane"); err != nil {
		t.Errorf("CheckName(jane) = %v", err)
	}
}
