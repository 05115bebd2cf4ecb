package sessions

import (
	"reflect"
	"testing"
)

func TestFromProcs(t *testing.T) {
	procs := []Proc{
		{PID: 10, UID: 0, Environ: []string{"DISPLAY=:0"}},   // root: not a desk
		{PID: 11, UID: 120, Environ: []string{"DISPLAY=:0"}}, // gdm
		{PID: 20, UID: 1000, Environ: []string{"HOME=/home/ann", "DISPLAY=:0", "XAUTHORITY=/run/user/1000/a"}},
		{PID: 25, UID: 1000, Environ: []string{"DISPLAY=:0", "XAUTHORITY=/run/user/1000/b"}}, // newer wins
		{PID: 21, UID: 1000, Environ: []string{"DISPLAY=:0.0"}},                              // same display, screen 0
		{PID: 30, UID: 1001, Environ: []string{"DISPLAY=:1"}},
		{PID: 31, UID: 1001, Environ: []string{"DISPLAY=localhost:10.0"}}, // ssh -X: not a desk
		{PID: 32, UID: 1002, Environ: []string{"PATH=/bin"}},              // no display
		{PID: 33, UID: 1003, Environ: []string{"DISPLAY="}},
		{PID: 34, UID: 1004, Environ: []string{"DISPLAY=:4", "VIGIL_HELPER=1"}}, // the agent's own helper
	}
	got := FromProcs(procs)
	want := []Session{
		{ID: "x11-1000-0", UID: 1000, Display: ":0", XAuthority: "/run/user/1000/b"},
		{ID: "x11-1001-1", UID: 1001, Display: ":1"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("FromProcs:\n got  %+v\n want %+v", got, want)
	}
}

func TestFromWTS(t *testing.T) {
	got := FromWTS([]WTSSession{
		{ID: 0, Active: true, User: `NT AUTHORITY\SYSTEM`}, // the services' session
		{ID: 1, Active: false, User: `CORP\bob`},           // disconnected
		{ID: 2, Active: true, User: `CORP\ann`},
		{ID: 3, Active: true}, // active, name unknown
	})
	want := []Session{{ID: "wts-2", User: `CORP\ann`, WTSID: 2}, {ID: "wts-3", WTSID: 3}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("FromWTS:\n got  %+v\n want %+v", got, want)
	}
}
