package win32

import (
	"regexp"
	"testing"
	"time"

	"github.com/vigil-cc/vigil/sensors"
)

func TestIdleAcrossTheWrap(t *testing.T) {
	const wrap = uint64(1) << 32
	day := uint64(24 * time.Hour / time.Millisecond)
	for _, tc := range []struct {
		name string
		now  uint64 // GetTickCount64
		last uint32 // GetLastInputInfo dwTime
		want time.Duration
	}{
		{"input now", 5000, 5000, 0},
		{"idle 1 s, first cycle", 5000, 4000, time.Second},
		{"idle since boot", 5000, 0, 5 * time.Second},
		{"just before the wrap", wrap - 5, uint32(wrap - 10), 5 * time.Millisecond},
		{"input before the wrap, now after it", wrap + 5, uint32(wrap - 10), 15 * time.Millisecond},
		{"input just after the wrap", wrap + 5, 3, 2 * time.Millisecond},
		{"busy in the second cycle", 3*wrap + 1000, 990, 10 * time.Millisecond},
		{"idle 40 days across a wrap", wrap + 10*day, uint32(wrap + 10*day - 40*day), 40 * 24 * time.Hour},
		{"input stamped ahead of the tick", 5000, 5040, 0},
		{"input stamped ahead across the wrap", wrap - 2, 3, 0},
		{"idle 49 days", 60 * day, uint32(60*day - 49*day), 49 * 24 * time.Hour},
		{"bogus input before boot", 1000, 0xFFFF0000, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := IdleFor(tc.now, tc.last); got != tc.want {
				t.Errorf("IdleFor(%d, %d) = %v, want %v", tc.now, tc.last, got, tc.want)
			}
			if in := InputTick64(tc.now, tc.last); in > tc.now {
				t.Errorf("InputTick64(%d, %d) = %d, after now", tc.now, tc.last, in)
			}
		})
	}
}

func TestWindowList(t *testing.T) {
	desk := rawWindow{hwnd: 0x10, title: "Untitled - Notepad", pid: 32, visible: true}
	other := rawWindow{hwnd: 0x20, title: "Other", pid: 48, visible: true}
	hidden := rawWindow{hwnd: 0x30, title: "Notepad helper", pid: 32}
	min := desk
	min.iconic = true
	re := regexp.MustCompile("Notepad")
	for _, tc := range []struct {
		name      string
		fg        uintptr
		raw       []rawWindow
		wantFg    bool
		wantMin   bool
		wantPID   int
		wantCount int
	}{
		{"desk in front", 0x10, []rawWindow{desk, other, hidden}, true, false, 32, 2},
		{"other in front", 0x20, []rawWindow{desk, other}, false, false, 48, 2},
		{"desktop window in front (native X window under Wine)", 0x99, []rawWindow{desk, other}, false, false, 0, 2},
		{"nothing in front", 0, []rawWindow{desk}, false, false, 0, 1},
		{"desk minimized, other in front", 0x20, []rawWindow{min, other}, false, true, 48, 2},
		{"desk minimized, nothing in front", 0, []rawWindow{min}, false, true, 0, 1},
		{"an invisible window is never in front", 0x30, []rawWindow{hidden, other}, false, false, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wl := windowList(tc.fg, tc.raw)
			fg, min := sensors.DecideWindows(re, wl)
			pid := 0
			if wl.Foreground != nil {
				pid = wl.Foreground.PID
			}
			if fg != tc.wantFg || min != tc.wantMin || pid != tc.wantPID || len(wl.Windows) != tc.wantCount {
				t.Errorf("foreground %v minimized %v pid %d windows %d, want %v %v %d %d",
					fg, min, pid, len(wl.Windows), tc.wantFg, tc.wantMin, tc.wantPID, tc.wantCount)
			}
		})
	}
}

func TestLockedDesktop(t *testing.T) {
	for _, tc := range []struct {
		name   string
		denied bool
		want   bool
	}{
		{"Default", false, false},
		{"Winlogon", false, true},
		{"Screen-saver", false, true},
		{"", true, true},
	} {
		if got := lockedDesktop(tc.name, tc.denied); got != tc.want {
			t.Errorf("lockedDesktop(%q, %v) = %v, want %v", tc.name, tc.denied, got, tc.want)
		}
	}
}

func TestNoticePlace(t *testing.T) {
	for _, c := range []struct{ l, t, w, h, x, y, ww, wh int32 }{
		{0, 0, 1280, 800, 1280 - 420 - 16, 16, 420, 140},
		{100, 30, 1920, 1050, 100 + 1920 - 420 - 16, 46, 420, 140},
		{0, 0, 300, 100, 16, 16, 268, 68},
		{0, 0, 50, 50, 0, 16, 100, 60},
	} {
		x, y, w, h := noticePlace(c.l, c.t, c.w, c.h)
		if x != c.x || y != c.y || w != c.ww || h != c.wh {
			t.Errorf("noticePlace(%d, %d, %d, %d) = %d, %d, %d×%d, want %d, %d, %d×%d", c.l, c.t, c.w, c.h, x, y, w, h, c.x, c.y, c.ww, c.wh)
		}
	}
}
