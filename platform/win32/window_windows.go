package win32

import (
	"errors"
	"fmt"
	"sync"
	"unsafe"

	"golang.org/x/sys/windows"
)

// The notice window and the message loop of the thread that owns it. A
// window belongs to the thread that creates it and is only driven by that
// thread's message loop, so the caller locks a goroutine to its OS thread,
// makes a MessageLoop there and does everything to its windows from
// there: in Run's wake function and in the windows' tick functions.

const (
	wsPopup   = 0x80000000
	wsChild   = 0x40000000
	wsVisible = 0x10000000
	wsCaption = 0x00C00000
	wsSysMenu = 0x00080000

	wsExTopmost    = 0x00000008
	wsExToolWindow = 0x00000080
	wsExNoActivate = 0x08000000

	ssNoPrefix = 0x80

	swShowNoActivate = 4

	wmDestroy       = 0x0002
	wmSetFont       = 0x0030
	wmMouseActivate = 0x0021
	wmTimer         = 0x0113
	wmLButtonDown   = 0x0201
	wmWake          = 0x8000 + 0x56 // WM_APP + n: MessageLoop.Wake

	maNoActivate = 3

	pmNoRemove       = 0
	spiGetWorkArea   = 0x0030
	defaultGUIFont   = 17
	idcArrow         = 32512
	colorWindowBrush = 5 + 1 // COLOR_WINDOW + 1

	tickTimer = 1
)

var className = windows.StringToUTF16Ptr("VigilWarningWindow")

type wndClassEx struct {
	cbSize        uint32
	style         uint32
	lpfnWndProc   uintptr
	cbClsExtra    int32
	cbWndExtra    int32
	hInstance     windows.Handle
	hIcon         windows.Handle
	hCursor       windows.Handle
	hbrBackground windows.Handle
	lpszMenuName  *uint16
	lpszClassName *uint16
	hIconSm       windows.Handle
}

type point struct{ x, y int32 }

type winMsg struct {
	hwnd     uintptr
	message  uint32
	wParam   uintptr
	lParam   uintptr
	time     uint32
	pt       point
	lPrivate uint32
}

type rect struct{ left, top, right, bottom int32 }

var (
	registerOnce sync.Once
	registerErr  error

	// The window procedure finds its NoticeWindow here: Go callbacks are
	// few per process, so there is one procedure for all windows.
	windowsMu sync.Mutex
	byHandle  = map[uintptr]*NoticeWindow{}
)

// register checks the functions the window and the loop call and
// registers the window class, once per process.
func register() error {
	registerOnce.Do(func() {
		registerErr = find("the warning window", procRegisterClassExW, procCreateWindowExW, procDestroyWindow,
			procDefWindowProcW, procShowWindow, procSetWindowTextW, procSetTimer, procGetMessageW,
			procPeekMessageW, procTranslateMessage, procDispatchMessageW, procPostThreadMessageW,
			procPostQuitMessage, procSendMessageW, procSystemParametersInfo, procLoadCursorW,
			procGetModuleHandleW, procGetStockObject)
		if registerErr != nil {
			return
		}
		inst, _, _ := procGetModuleHandleW.Call(0)
		cursor, _, _ := procLoadCursorW.Call(0, idcArrow)
		wc := wndClassEx{
			lpfnWndProc:   windows.NewCallback(wndProc),
			hInstance:     windows.Handle(inst),
			hCursor:       windows.Handle(cursor),
			hbrBackground: windows.Handle(colorWindowBrush),
			lpszClassName: className,
		}
		wc.cbSize = uint32(unsafe.Sizeof(wc))
		if r, _, err := procRegisterClassExW.Call(uintptr(unsafe.Pointer(&wc))); r == 0 {
			registerErr = fmt.Errorf("registering the warning window's class: %w", err)
		}
	})
	return registerErr
}

// MessageLoop is the message loop of the calling OS thread.
type MessageLoop struct{ tid uint32 }

// NewMessageLoop readies the calling thread, which the caller has locked
// with runtime.LockOSThread, for a message loop: Wake may be called from
// any goroutine once it returns.
func NewMessageLoop() (*MessageLoop, error) {
	if err := register(); err != nil {
		return nil, err
	}
	var m winMsg
	// Gives the thread its message queue before anyone posts to it.
	procPeekMessageW.Call(uintptr(unsafe.Pointer(&m)), 0, 0, 0, pmNoRemove)
	return &MessageLoop{tid: windows.GetCurrentThreadId()}, nil
}

// Run dispatches the thread's messages until Quit, calling wake on each
// Wake. It runs on the loop's thread.
func (l *MessageLoop) Run(wake func()) {
	var m winMsg
	for {
		r, _, _ := procGetMessageW.Call(uintptr(unsafe.Pointer(&m)), 0, 0, 0)
		if int32(r) <= 0 { // WM_QUIT or an error
			return
		}
		if m.hwnd == 0 && m.message == wmWake {
			wake()
			continue
		}
		procTranslateMessage.Call(uintptr(unsafe.Pointer(&m)))
		procDispatchMessageW.Call(uintptr(unsafe.Pointer(&m)))
	}
}

// Wake makes Run call its wake function on the loop's thread. It is safe
// from any goroutine. A modal loop (the user dragging a window) drops
// these thread messages: see NoticeWindow's tick.
func (l *MessageLoop) Wake() error {
	if r, _, err := procPostThreadMessageW.Call(uintptr(l.tid), wmWake, 0, 0); r == 0 {
		return fmt.Errorf("waking the warning window's thread: %w", err)
	}
	return nil
}

// Quit makes Run return once the messages before it are handled. It runs
// on the loop's thread.
func (l *MessageLoop) Quit() { procPostQuitMessage.Call(0) }

// NoticeWindow is a small window with a fixed title showing a text, in
// the top right corner of the work area (noticePlace), above all others
// and never taking the focus from the user's window: WS_EX_NOACTIVATE,
// shown with SW_SHOWNOACTIVATE, and a click, which closes it, does not
// activate it either. Its methods run on the thread of the MessageLoop
// that made it.
type NoticeWindow struct {
	hwnd, label uintptr
	tick        func()
	closed      bool
}

// ShowNoticeWindow makes and shows a NoticeWindow. tick runs about every
// second while it is up, on its thread, also while a modal loop drops
// the thread's messages.
func ShowNoticeWindow(title, text string, tick func()) (*NoticeWindow, error) {
	ti, errTitle := windows.UTF16PtrFromString(title)
	t, errText := windows.UTF16PtrFromString(text)
	if err := errors.Join(errTitle, errText); err != nil {
		return nil, err // a NUL in either
	}
	var area rect
	if r, _, _ := procSystemParametersInfo.Call(spiGetWorkArea, 0, uintptr(unsafe.Pointer(&area)), 0); r == 0 {
		area = rect{0, 0, 1024, 768}
	}
	x, y, w, h := noticePlace(area.left, area.top, area.right-area.left, area.bottom-area.top)
	inst, _, _ := procGetModuleHandleW.Call(0)
	hwnd, _, err := procCreateWindowExW.Call(
		wsExTopmost|wsExNoActivate|wsExToolWindow,
		uintptr(unsafe.Pointer(className)), uintptr(unsafe.Pointer(ti)),
		wsPopup|wsCaption|wsSysMenu,
		uintptr(x), uintptr(y), uintptr(w), uintptr(h), 0, 0, inst, 0)
	if hwnd == 0 {
		return nil, fmt.Errorf("creating the warning window: %w", err)
	}
	nw := &NoticeWindow{hwnd: hwnd, tick: tick}
	windowsMu.Lock()
	byHandle[hwnd] = nw
	windowsMu.Unlock()
	// The text in a static control filling the client area (inset by
	// 12 pixels); the window is shown before the label is sized, so the
	// client size comes from the window's size less its caption, roughly.
	static := windows.StringToUTF16Ptr("STATIC")
	nw.label, _, err = procCreateWindowExW.Call(0,
		uintptr(unsafe.Pointer(static)), uintptr(unsafe.Pointer(t)),
		wsChild|wsVisible|ssNoPrefix,
		12, 10, uintptr(max(w-30, 10)), uintptr(max(h-50, 10)), hwnd, 0, inst, 0)
	if nw.label == 0 {
		nw.Close()
		return nil, fmt.Errorf("creating the warning window's text: %w", err)
	}
	if font, _, _ := procGetStockObject.Call(defaultGUIFont); font != 0 {
		procSendMessageW.Call(nw.label, wmSetFont, font, 0)
	}
	procSetTimer.Call(hwnd, tickTimer, 1000, 0)
	procShowWindow.Call(hwnd, swShowNoActivate)
	return nw, nil
}

// SetText replaces the text shown.
func (w *NoticeWindow) SetText(text string) error {
	t, err := windows.UTF16PtrFromString(text)
	if err != nil {
		return err
	}
	if !w.closed {
		procSetWindowTextW.Call(w.label, uintptr(unsafe.Pointer(t)))
	}
	return nil
}

// Close takes the window down, if it is still up.
func (w *NoticeWindow) Close() {
	if !w.closed {
		procDestroyWindow.Call(w.hwnd) // WM_DESTROY marks it closed
	}
}

// Closed reports whether the window is down: by Close, a click or its
// close button.
func (w *NoticeWindow) Closed() bool { return w.closed }

func wndProc(hwnd, msg, wParam, lParam uintptr) uintptr {
	windowsMu.Lock()
	w := byHandle[hwnd]
	windowsMu.Unlock()
	if w != nil {
		switch msg {
		case wmMouseActivate:
			return maNoActivate // a click does not take the focus either
		case wmLButtonDown: // a click takes it away
			procDestroyWindow.Call(hwnd)
			return 0
		case wmTimer:
			if w.tick != nil {
				w.tick()
			}
			return 0
		case wmDestroy: // also after its close button
			w.closed = true
			windowsMu.Lock()
			delete(byHandle, hwnd)
			windowsMu.Unlock()
		}
	}
	r, _, _ := procDefWindowProcW.Call(hwnd, msg, wParam, lParam)
	return r
}
