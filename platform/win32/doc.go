// Package win32 reads desktop state from a Windows interactive session for
// the sensors: input idle time (GetLastInputInfo against GetTickCount64),
// the top-level windows and which one is in front (EnumWindows,
// GetForegroundWindow, GetWindowTextW, GetWindowThreadProcessId, IsIconic)
// and whether the session's screen is locked (the input desktop). It also
// shows the warning window of platform/notify: NoticeWindow, a topmost
// window that never takes the focus, run by a MessageLoop
// (window_windows.go).
//
// The Win32 functions are bound in user32_windows.go, the sensors' system
// calls live in win32_windows.go; what is decided from their results (the
// 64-bit input time, the window list, locked or not, where the notice
// window goes) is in portable files and table-tested on every OS; only
// Windows code imports the rest.
//
// It must run inside the user's session (a per-session helper started by
// the service; docs/windows-agent.md):
// from session 0 a service sees neither the user's input nor its windows.
// Window titles are returned to the caller for sensors.DecideWindows only;
// this package never logs them or puts them in an error.
package win32
