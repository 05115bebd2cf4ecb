package main

import "testing"

// install enables a package's systemd unit instead of writing a second
// one, keeps an existing SysV init script, and registers otherwise.
func TestDecideRegistration(t *testing.T) {
	for _, tc := range []struct {
		system           string
		unit, initScript bool
		want             registration
	}{
		{"linux-systemd", true, false, enableUnit},
		{"linux-systemd", true, true, enableUnit},
		{"linux-systemd", false, false, register},
		{"linux-systemd", false, true, register}, // systemd ignores our init script's registration: write a unit
		{"unix-systemv", false, true, registered},
		{"unix-systemv", true, true, registered},
		{"unix-systemv", true, false, register}, // a unit without systemd running: the init script is what runs
		{"unix-systemv", false, false, register},
		{"", true, true, register},
	} {
		if got := decideRegistration(tc.system, tc.unit, tc.initScript); got != tc.want {
			t.Errorf("decideRegistration(%q, unit=%v, init=%v) = %v, want %v", tc.system, tc.unit, tc.initScript, got, tc.want)
		}
	}
}
