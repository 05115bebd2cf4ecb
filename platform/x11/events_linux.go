package x11

import (
	"fmt"
	"sync"
	"time"

	"github.com/jezek/xgb/screensaver"
	"github.com/jezek/xgb/xproto"

	"github.com/vigil-cc/vigil/sensors"
)

// Reading the window list costs several X round trips (root properties,
// then five properties of every client window), and the agent polls four
// times a second. Instead, the connection selects PropertyChange on the
// root window (_NET_ACTIVE_WINDOW, _NET_CLIENT_LIST, _SCREENSAVER_STATUS)
// and on every window it reads (titles, _NET_WM_STATE, WM_STATE,
// _NET_WM_PID), and Windows and ScreenLocked answer from their last read
// until the X server reports a change. xgb queues the events; each call
// drains the queue without blocking (no goroutine, no wake-up while
// nothing changes). A re-read at least every safetyReread covers anything
// missed.
const safetyReread = 5 * time.Second

// saverFresh is how old an MIT-SCREEN-SAVER reply (from Idle) ScreenLocked
// may reuse: the agent asks for the idle time and the lock state in the
// same poll.
const saverFresh = 100 * time.Millisecond

type winCache struct {
	mu       sync.Mutex
	selected bool                   // root PropertyChange selected
	watched  map[xproto.Window]bool // windows with PropertyChange selected
	gen      uint64                 // bumped by every event or error drained

	wl    sensors.WindowList
	wlGen uint64
	wlAt  time.Time
	wlOK  bool

	status    []xproto.Window // _SCREENSAVER_STATUS
	statusGen uint64
	statusAt  time.Time
	statusOK  bool

	saver   *screensaver.QueryInfoReply
	saverAt time.Time
}

// drainEvents empties xgb's event queue, counting what it held: any event
// (or asynchronous error) may mean a watched property changed.
func (c *Conn) drainEvents() {
	n := 0
	for {
		ev, err := c.x.PollForEvent()
		if ev == nil && err == nil {
			break
		}
		n++
	}
	if n > 0 {
		c.win.mu.Lock()
		c.win.gen++
		c.win.mu.Unlock()
	}
}

// syncEvents makes sure every change the X server made before now has
// been drained: xgb reads the connection in order, so the events sent
// before a reply are queued before the reply is delivered. IdleMs has just
// made such a round trip when the agent polls (Idle, then Windows and
// ScreenLocked); otherwise one is made here.
func (c *Conn) syncEvents() error {
	if c.recentSaver() == nil {
		if _, err := xproto.GetInputFocus(c.x).Reply(); err != nil {
			return fmt.Errorf("syncing with X display %q: %w", c.display, err)
		}
	}
	c.drainEvents()
	return nil
}

// selectRoot subscribes to property changes of the root window, once.
// Called before reading root properties, so no change after the read is
// missed.
func (c *Conn) selectRoot() {
	c.win.mu.Lock()
	defer c.win.mu.Unlock()
	if !c.win.selected {
		xproto.ChangeWindowAttributes(c.x, c.root, xproto.CwEventMask, []uint32{xproto.EventMaskPropertyChange})
		c.win.selected = true
	}
}

// watch subscribes to property changes of the windows not yet watched and
// forgets windows no longer listed. The requests go out before the
// properties are read (X processes a client's requests in order).
// Errors for windows already gone arrive as events and only cause another
// read.
func (c *Conn) watch(ids []xproto.Window) {
	c.win.mu.Lock()
	defer c.win.mu.Unlock()
	next := make(map[xproto.Window]bool, len(ids))
	for _, id := range ids {
		if !c.win.watched[id] {
			xproto.ChangeWindowAttributes(c.x, id, xproto.CwEventMask, []uint32{xproto.EventMaskPropertyChange})
		}
		next[id] = true
	}
	c.win.watched = next
}

// cachedWindows returns the last window list if nothing changed since and
// it is recent, and otherwise the generation a new read starts at.
func (c *Conn) cachedWindows() (sensors.WindowList, bool, uint64, error) {
	if err := c.syncEvents(); err != nil {
		return sensors.WindowList{}, false, 0, err
	}
	c.win.mu.Lock()
	defer c.win.mu.Unlock()
	if c.win.wlOK && c.win.wlGen == c.win.gen && time.Since(c.win.wlAt) < safetyReread {
		return c.win.wl, true, 0, nil
	}
	return sensors.WindowList{}, false, c.win.gen, nil
}

func (c *Conn) storeWindows(wl sensors.WindowList, gen uint64, at time.Time) {
	c.win.mu.Lock()
	defer c.win.mu.Unlock()
	c.win.wl, c.win.wlGen, c.win.wlAt, c.win.wlOK = wl, gen, at, true
}

// recentSaver returns IdleMs's MIT-SCREEN-SAVER reply if it is fresh.
func (c *Conn) recentSaver() *screensaver.QueryInfoReply {
	c.win.mu.Lock()
	defer c.win.mu.Unlock()
	if c.win.saver != nil && time.Since(c.win.saverAt) < saverFresh {
		return c.win.saver
	}
	return nil
}

// screensaverStatus reads _SCREENSAVER_STATUS of the root window, or
// returns the last value while no property changed.
func (c *Conn) screensaverStatus() ([]xproto.Window, error) {
	c.selectRoot()
	if err := c.syncEvents(); err != nil {
		return nil, err
	}
	c.win.mu.Lock()
	if c.win.statusOK && c.win.statusGen == c.win.gen && time.Since(c.win.statusAt) < safetyReread {
		st := c.win.status
		c.win.mu.Unlock()
		return st, nil
	}
	gen, at := c.win.gen, time.Now()
	c.win.mu.Unlock()
	st, err := c.rootWindowProperty("_SCREENSAVER_STATUS")
	if err != nil {
		return nil, err
	}
	c.win.mu.Lock()
	c.win.status, c.win.statusGen, c.win.statusAt, c.win.statusOK = st, gen, at, true
	c.win.mu.Unlock()
	return st, nil
}
