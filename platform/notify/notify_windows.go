//go:build windows

package notify

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// On Windows the warning is a small window of our own: topmost, in the top
// right corner, shown without taking the focus from the user's window
// (WS_EX_NOACTIVATE, SW_SHOWNOACTIVATE), with the fixed title WindowTitle.
// It lives on its own OS-locked goroutine running a message loop; Notify
// and CloseNotification hand it commands over a channel and wake it with a
// thread message. Windows has no notification service the agent could
// reach from a plain process without an AppUserModelID and a shortcut in
// the Start menu, and a toast can be silenced by Focus Assist: a window
// is always seen.

var (
	user32   = windows.NewLazySystemDLL("user32.dll")
	kernel32 = windows.NewLazySystemDLL("kernel32.dll")
	gdi32    = windows.NewLazySystemDLL("gdi32.dll")

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
	wmCommands      = 0x8000 + 0x56 // WM_APP + n: commands are waiting

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

// Client shows the notifications in the warning window. Its methods are
// safe for concurrent use. AppName, Address and Now are not used on
// Windows.
type Client struct {
	AppName string
	Address string
	Now     func() time.Time

	mu  sync.Mutex
	ids windowIDs
	ui  *uiThread
}

// Notify shows body under summary in the warning window, creating the
// window if none is shown and replacing its text otherwise (one
// notification at a time), and returns the notification's id. A
// notification that is not urgent closes by itself after NoticeFor; a
// click closes either.
func (c *Client) Notify(ctx context.Context, replaces uint32, summary, body string, urgent bool) (uint32, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ui == nil {
		ui, err := startUI()
		if err != nil {
			return 0, err
		}
		c.ui = ui
	}
	cmd := command{op: opShow, text: windowText(summary, body)}
	if !urgent {
		cmd.expire = NoticeFor
	}
	closed, err := c.ui.do(ctx, cmd)
	if err != nil {
		return 0, err
	}
	if closed {
		c.ids.expired()
	}
	return c.ids.notify(replaces), nil
}

// CloseNotification takes the window down if it shows notification id.
func (c *Client) CloseNotification(ctx context.Context, id uint32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ui == nil || !c.ids.close(id) {
		return nil
	}
	_, err := c.ui.do(ctx, command{op: opClose})
	return err
}

// Close takes the window down and ends its thread.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ui == nil {
		return nil
	}
	ui := c.ui
	c.ui = nil
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err := ui.do(ctx, command{op: opQuit})
	if err == nil || errors.Is(err, errUIGone) {
		select {
		case <-ui.done:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("closing the warning window: its thread did not end")
		}
	}
	return err
}

type op uint8

const (
	opShow op = iota
	opClose
	opQuit
)

type command struct {
	op     op
	text   string
	expire time.Duration // opShow: 0 for never
	reply  chan reply
}

type reply struct {
	closed bool // the window had closed by itself before this command
	err    error
}

var errUIGone = errors.New("the warning window's thread has ended")

// uiThread is the goroutine, locked to its OS thread, that owns the
// window and runs its message loop.
type uiThread struct {
	tid  uint32
	cmds chan command
	done chan struct{}

	// Owned by the thread:
	hwnd, label uintptr
	expireAt    time.Time // zero: never
	selfClosed  bool      // the window closed by itself since the last command
	destroying  bool      // destroy is taking it down
	font        uintptr
}

var (
	registerOnce sync.Once
	registerErr  error
	wndProcPtr   uintptr

	threadsMu sync.Mutex
	threads   = map[uintptr]*uiThread{} // window → its thread
)

func register() error {
	registerOnce.Do(func() {
		for _, p := range []*windows.LazyProc{procRegisterClassExW, procCreateWindowExW, procDestroyWindow,
			procDefWindowProcW, procShowWindow, procSetWindowTextW, procSetTimer, procGetMessageW,
			procPeekMessageW, procTranslateMessage, procDispatchMessageW, procPostThreadMessageW,
			procPostQuitMessage, procSendMessageW, procSystemParametersInfo, procLoadCursorW,
			procGetModuleHandleW, procGetStockObject} {
			if err := p.Find(); err != nil {
				registerErr = fmt.Errorf("the warning window: %w", err)
				return
			}
		}
		wndProcPtr = windows.NewCallback(wndProc)
		inst, _, _ := procGetModuleHandleW.Call(0)
		cursor, _, _ := procLoadCursorW.Call(0, idcArrow)
		wc := wndClassEx{
			lpfnWndProc:   wndProcPtr,
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

func startUI() (*uiThread, error) {
	if err := register(); err != nil {
		return nil, err
	}
	u := &uiThread{cmds: make(chan command, 4), done: make(chan struct{})}
	ready := make(chan struct{})
	go u.run(ready)
	<-ready
	return u, nil
}

// run is the message loop. The goroutine keeps its OS thread locked to
// the end, so the thread goes with it (and any window left with it).
func (u *uiThread) run(ready chan<- struct{}) {
	runtime.LockOSThread()
	defer close(u.done)
	u.tid = windows.GetCurrentThreadId()
	var m winMsg
	// Gives the thread its message queue before anyone posts to it.
	procPeekMessageW.Call(uintptr(unsafe.Pointer(&m)), 0, 0, 0, pmNoRemove)
	u.font, _, _ = procGetStockObject.Call(defaultGUIFont)
	close(ready)
	for {
		r, _, _ := procGetMessageW.Call(uintptr(unsafe.Pointer(&m)), 0, 0, 0)
		if int32(r) <= 0 { // WM_QUIT or an error
			break
		}
		if m.hwnd == 0 && m.message == wmCommands {
			u.drain()
			continue
		}
		procTranslateMessage.Call(uintptr(unsafe.Pointer(&m)))
		procDispatchMessageW.Call(uintptr(unsafe.Pointer(&m)))
	}
	u.destroy()
	// Commands sent before the loop ended but not read are answered.
	for {
		select {
		case c := <-u.cmds:
			c.reply <- reply{err: errUIGone}
		default:
			return
		}
	}
}

// do hands cmd to the thread and waits for its answer.
func (u *uiThread) do(ctx context.Context, cmd command) (bool, error) {
	cmd.reply = make(chan reply, 1)
	select {
	case u.cmds <- cmd:
	case <-u.done:
		return false, errUIGone
	case <-ctx.Done():
		return false, ctx.Err()
	}
	if r, _, err := procPostThreadMessageW.Call(uintptr(u.tid), wmCommands, 0, 0); r == 0 {
		return false, fmt.Errorf("waking the warning window's thread: %w", err)
	}
	select {
	case r := <-cmd.reply:
		return r.closed, r.err
	case <-u.done:
		return false, errUIGone
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// drain carries out the waiting commands (on the thread).
func (u *uiThread) drain() {
	for {
		select {
		case c := <-u.cmds:
			closed := u.selfClosed
			u.selfClosed = false
			var err error
			switch c.op {
			case opShow:
				err = u.show(c.text, c.expire)
			case opClose:
				u.destroy()
			case opQuit:
				u.destroy()
				procPostQuitMessage.Call(0)
			}
			c.reply <- reply{closed: closed, err: err}
		default:
			return
		}
	}
}

// show puts text in the window, making and showing the window first if
// there is none.
func (u *uiThread) show(text string, expire time.Duration) error {
	u.expireAt = time.Time{}
	if expire > 0 {
		u.expireAt = time.Now().Add(expire)
	}
	t, err := windows.UTF16PtrFromString(text)
	if err != nil {
		return err
	}
	if u.hwnd != 0 {
		procSetWindowTextW.Call(u.label, uintptr(unsafe.Pointer(t)))
		return nil
	}
	var area rect
	if r, _, _ := procSystemParametersInfo.Call(spiGetWorkArea, 0, uintptr(unsafe.Pointer(&area)), 0); r == 0 {
		area = rect{0, 0, 1024, 768}
	}
	x, y, w, h := windowPlace(area.left, area.top, area.right-area.left, area.bottom-area.top)
	inst, _, _ := procGetModuleHandleW.Call(0)
	title := windows.StringToUTF16Ptr(WindowTitle)
	hwnd, _, err := procCreateWindowExW.Call(
		wsExTopmost|wsExNoActivate|wsExToolWindow,
		uintptr(unsafe.Pointer(className)), uintptr(unsafe.Pointer(title)),
		wsPopup|wsCaption|wsSysMenu,
		uintptr(x), uintptr(y), uintptr(w), uintptr(h), 0, 0, inst, 0)
	if hwnd == 0 {
		return fmt.Errorf("creating the warning window: %w", err)
	}
	threadsMu.Lock()
	threads[hwnd] = u
	threadsMu.Unlock()
	u.hwnd = hwnd
	// The text in a static control filling the client area (inset by
	// 12 pixels); the window is shown before the label is sized, so the
	// client size comes from the window's size less its caption, roughly.
	static := windows.StringToUTF16Ptr("STATIC")
	u.label, _, err = procCreateWindowExW.Call(0,
		uintptr(unsafe.Pointer(static)), uintptr(unsafe.Pointer(t)),
		wsChild|wsVisible|ssNoPrefix,
		12, 10, uintptr(max(w-30, 10)), uintptr(max(h-50, 10)), hwnd, 0, inst, 0)
	if u.label == 0 {
		u.destroy()
		return fmt.Errorf("creating the warning window's text: %w", err)
	}
	if u.font != 0 {
		procSendMessageW.Call(u.label, wmSetFont, u.font, 0)
	}
	procSetTimer.Call(hwnd, tickTimer, 1000, 0)
	procShowWindow.Call(hwnd, swShowNoActivate)
	return nil
}

// destroy takes the window down, if any.
func (u *uiThread) destroy() {
	if u.hwnd != 0 {
		u.destroying = true
		procDestroyWindow.Call(u.hwnd) // WM_DESTROY forgets it
		u.destroying = false
	}
}

func wndProc(hwnd, msg, wParam, lParam uintptr) uintptr {
	threadsMu.Lock()
	u := threads[hwnd]
	threadsMu.Unlock()
	if u != nil {
		switch msg {
		case wmMouseActivate:
			return maNoActivate // a click does not take the focus either
		case wmLButtonDown: // a click takes it away
			procDestroyWindow.Call(hwnd)
			return 0
		case wmTimer:
			if !u.expireAt.IsZero() && !time.Now().Before(u.expireAt) {
				procDestroyWindow.Call(hwnd)
			}
			// A modal loop (the user dragging the window) drops thread
			// messages: commands waiting are carried out here then.
			u.drain()
			return 0
		case wmDestroy: // also after its close button
			if !u.destroying {
				u.selfClosed = true
			}
			threadsMu.Lock()
			delete(threads, hwnd)
			threadsMu.Unlock()
			if u.hwnd == hwnd {
				u.hwnd, u.label, u.expireAt = 0, 0, time.Time{}
			}
		}
	}
	r, _, _ := procDefWindowProcW.Call(hwnd, msg, wParam, lParam)
	return r
}
