//go:build windows

package notify

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/vigil-cc/vigil/platform/win32"
)

// On Windows the warning is a small window of our own (win32.NoticeWindow):
// topmost, in the top right corner, shown without taking the focus from
// the user's window, with the fixed title WindowTitle. It lives on its own
// OS-locked goroutine running a message loop; Notify and CloseNotification
// hand it commands over a channel and wake it with a thread message.
// Windows has no notification service the agent could reach from a plain
// process without an AppUserModelID and a shortcut in the Start menu, and
// a toast can be silenced by Focus Assist: a window is always seen.

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
	loop *win32.MessageLoop
	cmds chan command
	done chan struct{}

	// Owned by the thread:
	win        *win32.NoticeWindow // nil: none shown
	expireAt   time.Time           // zero: never
	selfClosed bool                // the window closed by itself since the last command
}

func startUI() (*uiThread, error) {
	u := &uiThread{cmds: make(chan command, 4), done: make(chan struct{})}
	ready := make(chan error)
	go u.run(ready)
	if err := <-ready; err != nil {
		return nil, err
	}
	return u, nil
}

// run is the message loop. The goroutine keeps its OS thread locked to
// the end, so the thread goes with it (and any window left with it).
func (u *uiThread) run(ready chan<- error) {
	runtime.LockOSThread()
	defer close(u.done)
	loop, err := win32.NewMessageLoop()
	if err != nil {
		ready <- err
		return
	}
	u.loop = loop
	close(ready)
	loop.Run(u.drain)
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
	if err := u.loop.Wake(); err != nil {
		return false, err
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
			u.forgetClosed()
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
				u.loop.Quit()
			}
			c.reply <- reply{closed: closed, err: err}
		default:
			return
		}
	}
}

// forgetClosed forgets a window the user closed (a click, its close
// button): it closed by itself.
func (u *uiThread) forgetClosed() {
	if u.win != nil && u.win.Closed() {
		u.win, u.expireAt, u.selfClosed = nil, time.Time{}, true
	}
}

// show puts text in the window, making and showing the window first if
// there is none.
func (u *uiThread) show(text string, expire time.Duration) error {
	u.expireAt = time.Time{}
	if expire > 0 {
		u.expireAt = time.Now().Add(expire)
	}
	if u.win != nil {
		return u.win.SetText(text)
	}
	win, err := win32.ShowNoticeWindow(WindowTitle, text, u.tick)
	if err != nil {
		return err
	}
	u.win = win
	return nil
}

// tick runs each second while the window is up: it closes the window
// once its time is out, and carries out the commands waiting, since a
// modal loop (the user dragging the window) drops the thread messages
// that would have woken the loop.
func (u *uiThread) tick() {
	if u.win != nil && !u.expireAt.IsZero() && !time.Now().Before(u.expireAt) {
		u.destroy()
		u.selfClosed = true
	}
	u.drain()
}

// destroy takes the window down, if any.
func (u *uiThread) destroy() {
	if u.win != nil {
		u.win.Close()
		u.win, u.expireAt = nil, time.Time{}
	}
}
