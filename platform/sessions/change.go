package sessions

import "strconv"

// The WTS session-change events (WTSSESSION_NOTIFICATION's event types,
// winuser.h), which a Windows service receives as
// SERVICE_CONTROL_SESSIONCHANGE. Repeated here so the decision below is
// portable and tested on every OS.
const (
	WTSConsoleConnect    = 0x1
	WTSConsoleDisconnect = 0x2
	WTSRemoteConnect     = 0x3
	WTSRemoteDisconnect  = 0x4
	WTSSessionLogon      = 0x5
	WTSSessionLogoff     = 0x6
	WTSSessionLock       = 0x7
	WTSSessionUnlock     = 0x8
	WTSSessionRemoteCtl  = 0x9
	WTSSessionCreate     = 0xa
	WTSSessionTerminate  = 0xb
)

var wtsEventNames = map[uint32]string{
	WTSConsoleConnect:    "console_connect",
	WTSConsoleDisconnect: "console_disconnect",
	WTSRemoteConnect:     "remote_connect",
	WTSRemoteDisconnect:  "remote_disconnect",
	WTSSessionLogon:      "logon",
	WTSSessionLogoff:     "logoff",
	WTSSessionLock:       "lock",
	WTSSessionUnlock:     "unlock",
	WTSSessionRemoteCtl:  "remote_control",
	WTSSessionCreate:     "create",
	WTSSessionTerminate:  "terminate",
}

// WTSEventName names a session-change event for the log.
func WTSEventName(event uint32) string {
	if n, ok := wtsEventNames[event]; ok {
		return n
	}
	return "event_" + strconv.FormatUint(uint64(event), 10)
}

// RescanOnChange says whether a session-change event can change what Find
// returns (the active sessions other than 0), so the service should look
// for sessions at once instead of at its next poll. Lock, unlock and
// remote control leave a session active: its helper senses the lock
// itself. An event this code does not know rescans: a rescan is cheap,
// a missed session is not.
func RescanOnChange(event uint32) bool {
	switch event {
	case WTSSessionLock, WTSSessionUnlock, WTSSessionRemoteCtl:
		return false
	}
	return true
}
