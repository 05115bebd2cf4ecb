package win32

import (
	"errors"
	"fmt"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/vigil-cc/vigil/sensors"
)

const (
	desktopReadObjects = 0x0001 // DESKTOP_READOBJECTS: enough to read the name
	uoiName            = 2      // UOI_NAME
	maxTitle           = 512    // UTF-16 units read of a title; Agent Desk patterns match its start
)

// Desktop is the calling process's interactive session. Its methods are
// safe for concurrent use.
type Desktop struct{}

// Open checks that the user32 and kernel32 functions the sensors call
// exist, so that a missing one is reported at once rather than per reading.
func Open() (*Desktop, error) {
	if err := find("opening the Windows desktop sensors", procGetLastInputInfo, procGetWindowTextLengthW,
		procGetWindowTextW, procIsIconic, procOpenInputDesktop, procGetUserObjectInformationW, procCloseDesktop,
		procGetTickCount64); err != nil {
		return nil, err
	}
	return &Desktop{}, nil
}

// lastInputInfo is LASTINPUTINFO.
type lastInputInfo struct {
	cbSize uint32
	dwTime uint32
}

// Idle is the time since the last keyboard or mouse input in this session
// (sensors.Desktop).
func (d *Desktop) Idle() (time.Duration, error) {
	li := lastInputInfo{cbSize: uint32(unsafe.Sizeof(lastInputInfo{}))}
	// The input time first, then the tick: the tick is then never older
	// than the input (InputTick64 tolerates a little disorder anyway).
	if r, _, err := procGetLastInputInfo.Call(uintptr(unsafe.Pointer(&li))); r == 0 {
		return 0, fmt.Errorf("reading the last input time (GetLastInputInfo): %w", err)
	}
	now, _, _ := procGetTickCount64.Call() // 64-bit result in RAX on amd64 and arm64
	return IdleFor(uint64(now), li.dwTime), nil
}

// The EnumWindows callback is created once: Go can create only a limited
// number of callbacks per process. It appends to enumOut, which enumMu
// guards for the duration of one EnumWindows.
var (
	enumOnce sync.Once
	enumCb   uintptr
	enumMu   sync.Mutex
	enumOut  []rawWindow
)

func enumWindow(hwnd uintptr, _ uintptr) uintptr {
	h := windows.HWND(hwnd)
	r := rawWindow{hwnd: hwnd, visible: windows.IsWindowVisible(h)}
	if r.visible { // hidden windows are skipped; don't read their titles
		r.title = windowText(hwnd)
		_, _ = windows.GetWindowThreadProcessId(h, &r.pid) // 0 when the window just went away
		iconic, _, _ := procIsIconic.Call(hwnd)
		r.iconic = iconic != 0
	}
	enumOut = append(enumOut, r)
	return 1 // continue
}

// windowText is the window's title ("" if none or gone).
func windowText(hwnd uintptr) string {
	n, _, _ := procGetWindowTextLengthW.Call(hwnd)
	if n == 0 {
		return ""
	}
	buf := make([]uint16, min(int(n), maxTitle)+1)
	got, _, _ := procGetWindowTextW.Call(hwnd, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
	return windows.UTF16ToString(buf[:got])
}

// Windows lists the visible top-level windows with the foreground one
// (sensors.Desktop).
func (d *Desktop) Windows() (sensors.WindowList, error) {
	enumOnce.Do(func() { enumCb = windows.NewCallback(enumWindow) })
	enumMu.Lock()
	defer enumMu.Unlock()
	enumOut = enumOut[:0]
	fg := windows.GetForegroundWindow()
	if err := windows.EnumWindows(enumCb, nil); err != nil {
		return sensors.WindowList{}, fmt.Errorf("listing the top-level windows (EnumWindows): %w", err)
	}
	wl := windowList(uintptr(fg), enumOut)
	clear(enumOut) // titles do not outlive the reading
	return wl, nil
}

// ScreenLocked reports whether this session's input goes to another desktop
// than the user's "Default" one (sensors.Desktop). The input desktop is per
// session, so the answer is this session's even on a terminal server, and
// polling it needs no window or message loop (WTS lock notifications
// would, and say nothing about a lock that happened before we started).
func (d *Desktop) ScreenLocked() (bool, error) {
	h, _, err := procOpenInputDesktop.Call(0, 0, desktopReadObjects)
	if h == 0 {
		if errors.Is(err, windows.ERROR_ACCESS_DENIED) {
			return lockedDesktop("", true), nil
		}
		return false, fmt.Errorf("opening the input desktop: %w", err)
	}
	defer procCloseDesktop.Call(h)
	var buf [64]uint16
	var need uint32
	if r, _, err := procGetUserObjectInformationW.Call(h, uoiName, uintptr(unsafe.Pointer(&buf[0])),
		uintptr(len(buf)*2), uintptr(unsafe.Pointer(&need))); r == 0 {
		return false, fmt.Errorf("reading the input desktop's name: %w", err)
	}
	return lockedDesktop(windows.UTF16ToString(buf[:]), false), nil
}

// Close releases nothing: no handle is held between readings.
func (d *Desktop) Close() {}

var _ sensors.Desktop = (*Desktop)(nil)
