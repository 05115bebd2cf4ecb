package setting

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestNamed(t *testing.T) {
	err := Errorf("{Grace} (%v) must be longer than {Heartbeat} (%v), got %q", 10, 20, "{Grace}")
	if got, want := err.Error(), `Grace (10) must be longer than Heartbeat (20), got "{Grace}"`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	flag := func(s string) string { return "--" + strings.ToLower(s) }
	if got, want := err.Named(flag), `--grace (10) must be longer than --heartbeat (20), got "{Grace}"`; got != want {
		t.Errorf("Named = %q, want %q", got, want)
	}
	r := err.Renamed(func(s string) string { return "Webhook" + s })
	if got, want := r.Named(flag), `--webhookgrace (10) must be longer than --webhookheartbeat (20), got "{Grace}"`; got != want {
		t.Errorf("Renamed.Named = %q, want %q", got, want)
	}
	var se *Error
	if !errors.As(fmt.Errorf("wrapped: %w", err), &se) || se != err {
		t.Error("errors.As does not find the *Error")
	}
}
