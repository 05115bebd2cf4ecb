package win32

import (
	"fmt"

	"golang.org/x/sys/windows"
)

// find checks that procs exist, naming what needs them in the error.
func find(what string, procs ...*windows.LazyProc) error {
	for _, p := range procs {
		if err := p.Find(); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	return nil
}

// The Win32 functions this package calls, in one place: the sensors
// (win32_windows.go) and the notice window (window_windows.go). They are
// loaded lazily from the system directory; find checks them before use,
// so a missing one (an old Wine) is an error up front rather than a panic
// at the first call.
var (
	user32   = windows.NewLazySystemDLL("user32.dll")
	kernel32 = windows.NewLazySystemDLL("kernel32.dll")
	gdi32    = windows.NewLazySystemDLL("gdi32.dll")

	// The sensors.
	procGetLastInputInfo          = user32.NewProc("GetLastInputInfo")
	procGetWindowTextLengthW      = user32.NewProc("GetWindowTextLengthW")
	procGetWindowTextW            = user32.NewProc("GetWindowTextW")
	procIsIconic                  = user32.NewProc("IsIconic")
	procOpenInputDesktop          = user32.NewProc("OpenInputDesktop")
	procGetUserObjectInformationW = user32.NewProc("GetUserObjectInformationW")
	procCloseDesktop              = user32.NewProc("CloseDesktop")
	procGetTickCount64            = kernel32.NewProc("GetTickCount64")

	// The notice window and its message loop.
	procRegisterClassExW     = user32.NewProc("RegisterClassExW")
	procCreateWindowExW      = user32.NewProc("CreateWindowExW")
	procDestroyWindow        = user32.NewProc("DestroyWindow")
	procDefWindowProcW       = user32.NewProc("DefWindowProcW")
	procShowWindow           = user32.NewProc("ShowWindow")
	procSetWindowTextW       = user32.NewProc("SetWindowTextW")
	procSetTimer             = user32.NewProc("SetTimer")
	procGetMessageW          = user32.NewProc("GetMessageW")
	procPeekMessageW         = user32.NewProc("PeekMessageW")
	procTranslateMessage     = user32.NewProc("TranslateMessage")
	procDispatchMessageW     = user32.NewProc("DispatchMessageW")
	procPostThreadMessageW   = user32.NewProc("PostThreadMessageW")
	procPostQuitMessage      = user32.NewProc("PostQuitMessage")
	procSendMessageW         = user32.NewProc("SendMessageW")
	procSystemParametersInfo = user32.NewProc("SystemParametersInfoW")
	procLoadCursorW          = user32.NewProc("LoadCursorW")
	procGetModuleHandleW     = kernel32.NewProc("GetModuleHandleW")
	procGetStockObject       = gdi32.NewProc("GetStockObject")
)
