package builtin

import (
	"testing"
	"time"

	"github.com/vigil-cc/vigil/coordinator/engine"
)

func TestPick(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		cands []Candidate
		want  string
	}{
		{"nobody", nil, ""},
		{"least loaded", []Candidate{{User: "a", Capacity: 3, Load: 2}, {User: "b", Capacity: 3, Load: 1}, {User: "c", Capacity: 3, Load: 2}}, "b"},
		{"full users are skipped", []Candidate{{User: "a", Capacity: 1, Load: 1}, {User: "b", Capacity: 5, Load: 4}}, "b"},
		{"capacity 0 takes nothing", []Candidate{{User: "a", Capacity: 0}}, ""},
		{"everyone full", []Candidate{{User: "a", Capacity: 2, Load: 2}, {User: "b", Capacity: 1, Load: 3}}, ""},
		{"tie: ended longest ago", []Candidate{
			{User: "a", Capacity: 3, Load: 1, LastEnded: t0.Add(2 * time.Minute)},
			{User: "b", Capacity: 3, Load: 1, LastEnded: t0},
			{User: "c", Capacity: 3, Load: 1, LastEnded: t0.Add(time.Minute)},
		}, "b"},
		{"tie: never ended beats ended", []Candidate{
			{User: "a", Capacity: 3, Load: 0, LastEnded: t0},
			{User: "b", Capacity: 3, Load: 0},
		}, "b"},
		{"tie on everything: by name", []Candidate{{User: "zoe", Capacity: 3}, {User: "ann", Capacity: 3}, {User: "max", Capacity: 3}}, "ann"},
		{"load beats last ended", []Candidate{
			{User: "a", Capacity: 3, Load: 2},
			{User: "b", Capacity: 3, Load: 1, LastEnded: t0},
		}, "b"},
		{"higher capacity does not beat lower load", []Candidate{
			{User: "a", Capacity: 10, Load: 2},
			{User: "b", Capacity: 2, Load: 1},
		}, "b"},
	} {
		got, ok := Pick(tc.cands)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("%s: Pick = %q, %v; want %q", tc.name, got, ok, tc.want)
		}
	}
}

func TestAvailability(t *testing.T) {
	for _, tc := range []struct {
		s               engine.Status
		holds, availble bool
	}{
		{engine.StatusOffline, false, false},
		{engine.StatusActive, true, true},
		{engine.StatusPaused, true, true},
		{engine.StatusDisabled, true, true},
		{engine.StatusWarned, true, false},
		{engine.StatusLoggedOut, false, false},
	} {
		if holds(tc.s) != tc.holds || available(tc.s) != tc.availble {
			t.Errorf("%s: holds %v available %v; want %v %v", tc.s, holds(tc.s), available(tc.s), tc.holds, tc.availble)
		}
	}
}
