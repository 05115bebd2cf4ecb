package win32

import (
	"time"

	"github.com/vigil-cc/vigil/sensors"
)

// futureSlack is how far ahead of the tick count a last-input time may be
// and still mean "just now": the input time and the tick are read one
// after the other, and Wine stamps input from X event times, so the input
// can look a few milliseconds newer than the tick. Beyond this the input is
// taken as one from the previous 32-bit cycle (about 49.7 days ago).
const futureSlack = time.Minute

// InputTick64 reconstructs the 64-bit tick (ms since boot) of the last
// input from GetLastInputInfo's 32-bit dwTime, given the current 64-bit
// tick (GetTickCount64). dwTime is GetTickCount's value at the input and
// wraps every 2^32 ms (49.7 days); the input is taken as the latest moment
// not after now whose low 32 bits are last, so neither a wrap between the
// input and now nor a tick count past 2^32 makes a busy user look idle or
// an idle one busy. A last a little ahead of now (futureSlack) is now.
func InputTick64(now uint64, last uint32) uint64 {
	behind := uint32(now) - last // the elapsed time modulo 2^32
	if ahead := last - uint32(now); uint64(ahead) <= uint64(futureSlack.Milliseconds()) {
		return now // ahead is 0 for input this very millisecond
	}
	if uint64(behind) > now {
		// Before boot: the tick count is younger than the distance. Only a
		// bogus dwTime gets here; the input is at most as old as the session.
		return 0
	}
	return now - uint64(behind)
}

// IdleFor is the input idle time from the current 64-bit tick and
// GetLastInputInfo's dwTime (see InputTick64).
func IdleFor(now uint64, last uint32) time.Duration {
	return time.Duration(now-InputTick64(now, last)) * time.Millisecond
}

// rawWindow is a top-level window as enumerated, before any decision.
type rawWindow struct {
	hwnd    uintptr
	title   string
	pid     uint32
	iconic  bool
	visible bool
}

// windowList shapes the enumerated windows like platform/x11's list: the
// visible top-level windows, and the foreground one when it is among them.
// GetForegroundWindow returns 0 while activation changes, and the desktop
// window (not enumerated) when no application window is in front (Wine:
// when a native X window has the focus); both mean "none in front".
func windowList(fg uintptr, raw []rawWindow) sensors.WindowList {
	var wl sensors.WindowList
	fgIndex := -1
	for _, r := range raw {
		if !r.visible {
			continue // hidden helper windows; a minimized window stays visible
		}
		if r.hwnd == fg && fg != 0 {
			fgIndex = len(wl.Windows)
		}
		wl.Windows = append(wl.Windows, sensors.Window{ID: uint64(r.hwnd), Title: r.title, PID: int(r.pid), Hidden: r.iconic})
	}
	if fgIndex >= 0 {
		w := wl.Windows[fgIndex]
		wl.Foreground = &w
	}
	return wl
}

// lockedDesktop decides the lock state from the input desktop: the session
// is locked when input goes to another desktop than "Default" (Winlogon
// while locked or at the logon screen, the secure desktop of a UAC prompt)
// or when we may not open the input desktop at all, which is how a locked
// session's Winlogon desktop answers a user's process. Either way nobody
// can see or use the Agent Desk.
func lockedDesktop(name string, accessDenied bool) bool {
	return accessDenied || name != "Default"
}

// noticePlace is the notice window's position and size for a work area
// (the screen minus the taskbar) of width×height at left, top: a fixed
// size in the top right corner, 16 pixels from the edges, shrunk to fit a
// small screen.
func noticePlace(left, top, width, height int32) (x, y, w, h int32) {
	const margin, wantW, wantH = 16, 420, 140
	w, h = min(wantW, max(width-2*margin, 100)), min(wantH, max(height-2*margin, 60))
	return left + max(width-w-margin, 0), top + margin, w, h
}
