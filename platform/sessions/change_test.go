package sessions

import "testing"

func TestRescanOnChange(t *testing.T) {
	for _, tc := range []struct {
		event  uint32
		name   string
		rescan bool
	}{
		{WTSConsoleConnect, "console_connect", true},
		{WTSConsoleDisconnect, "console_disconnect", true},
		{WTSRemoteConnect, "remote_connect", true},
		{WTSRemoteDisconnect, "remote_disconnect", true},
		{WTSSessionLogon, "logon", true},
		{WTSSessionLogoff, "logoff", true},
		{WTSSessionLock, "lock", false},
		{WTSSessionUnlock, "unlock", false},
		{WTSSessionRemoteCtl, "remote_control", false},
		{WTSSessionCreate, "create", true},
		{WTSSessionTerminate, "terminate", true},
		{0x42, "event_66", true}, // unknown: rescan rather than miss a session
	} {
		if got := RescanOnChange(tc.event); got != tc.rescan {
			t.Errorf("RescanOnChange(%s) = %v, want %v", tc.name, got, tc.rescan)
		}
		if got := WTSEventName(tc.event); got != tc.name {
			t.Errorf("WTSEventName(%#x) = %q, want %q", tc.event, got, tc.name)
		}
	}
}
