//go:build windows

package sessions

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/windows"
)

// Find lists the active interactive sessions (WTSEnumerateSessions, state
// WTSActive, with each session's user).
func Find() ([]Session, error) {
	var info *windows.WTS_SESSION_INFO
	var n uint32
	if err := windows.WTSEnumerateSessions(0, 0, 1, &info, &n); err != nil {
		return nil, fmt.Errorf("WTSEnumerateSessions: %w", err)
	}
	defer windows.WTSFreeMemory(uintptr(unsafe.Pointer(info)))
	list := make([]WTSSession, 0, n)
	for _, s := range unsafe.Slice(info, n) {
		w := WTSSession{ID: s.SessionID, Active: s.State == windows.WTSActive}
		if w.Active && w.ID != 0 {
			w.User = wtsUser(w.ID)
		}
		list = append(list, w)
	}
	return FromWTS(list), nil
}

// Own is the WTS session this process runs in (ProcessIdToSessionId).
func Own() (string, error) {
	var n uint32
	if err := windows.ProcessIdToSessionId(windows.GetCurrentProcessId(), &n); err != nil {
		return "", fmt.Errorf("ProcessIdToSessionId: %w", err)
	}
	return WTSName(n), nil
}

var procWTSQuerySessionInformation = windows.NewLazySystemDLL("wtsapi32.dll").NewProc("WTSQuerySessionInformationW")

// WTS_INFO_CLASS values.
const (
	wtsUserName   = 5
	wtsDomainName = 7
)

// wtsUser is session's DOMAIN\user, or "" if Windows does not say.
func wtsUser(session uint32) string {
	user, domain := wtsString(session, wtsUserName), wtsString(session, wtsDomainName)
	switch {
	case user == "":
		return ""
	case domain == "":
		return user
	}
	return domain + `\` + user
}

func wtsString(session, class uint32) string {
	var buf *uint16
	var n uint32
	r, _, _ := procWTSQuerySessionInformation.Call(0, uintptr(session), uintptr(class),
		uintptr(unsafe.Pointer(&buf)), uintptr(unsafe.Pointer(&n)))
	if r == 0 || buf == nil {
		return ""
	}
	defer windows.WTSFreeMemory(uintptr(unsafe.Pointer(buf)))
	return windows.UTF16PtrToString(buf)
}
