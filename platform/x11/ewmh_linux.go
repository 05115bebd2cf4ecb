package x11

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jezek/xgb/screensaver"
	"github.com/jezek/xgb/xproto"

	"github.com/vigil-cc/vigil/sensors"
)

// ICCCM WM_STATE values.
const iconicState = 3

// Windows lists the top-level windows the window manager manages
// (_NET_CLIENT_LIST) with their title (_NET_WM_NAME, else WM_NAME), pid
// (_NET_WM_PID) and hidden state (_NET_WM_STATE_HIDDEN, or ICCCM WM_STATE
// Iconic), and marks the active one (_NET_ACTIVE_WINDOW; robotgo supplies its
// pid and title in cgo builds). Windows that vanish while being read are
// left out. Without an EWMH window manager the list is empty and nothing is
// in front.
//
// The list is read again only when the X server reports a property change
// on the root window or a listed window, or after safetyReread (see
// events_linux.go); otherwise the last list is returned.
func (c *Conn) Windows() (sensors.WindowList, error) {
	c.selectRoot()
	wl, ok, gen, err := c.cachedWindows()
	if err != nil {
		return wl, err
	}
	if ok {
		return cloneWindowList(wl), nil
	}
	at := time.Now()
	wl, err = c.readWindows()
	if err != nil {
		return wl, err
	}
	c.storeWindows(wl, gen, at)
	return cloneWindowList(wl), nil
}

func cloneWindowList(wl sensors.WindowList) sensors.WindowList {
	out := sensors.WindowList{Windows: slices.Clone(wl.Windows)}
	if wl.Foreground != nil {
		f := *wl.Foreground
		out.Foreground = &f
	}
	return out
}

func (c *Conn) readWindows() (sensors.WindowList, error) {
	var wl sensors.WindowList
	active, err := c.rootWindowProperty("_NET_ACTIVE_WINDOW")
	if err != nil {
		return wl, err
	}
	clients, err := c.rootWindowProperty("_NET_CLIENT_LIST")
	if err != nil {
		return wl, err
	}
	var fg xproto.Window
	if len(active) > 0 && active[0] != 0 && active[0] != c.root {
		fg = active[0]
	}
	ids := clients
	if fg != 0 && !slices.Contains(ids, fg) {
		ids = append(slices.Clip(ids), fg)
	}
	c.watch(ids)
	infos, err := c.windowInfos(ids)
	if err != nil {
		return wl, err
	}
	for _, w := range infos {
		if xproto.Window(w.ID) == fg {
			f := w
			f.Title, f.PID = c.foreground(fg, w.Title, w.PID)
			wl.Foreground = &f
		}
		if slices.Contains(clients, xproto.Window(w.ID)) {
			wl.Windows = append(wl.Windows, w)
		}
	}
	return wl, nil
}

// ScreenLocked reports whether the screen saver is on (MIT-SCREEN-SAVER
// state On: the X server's own saver, which screen lockers built on it
// activate) or xscreensaver says it is blanked or locked
// (_SCREENSAVER_STATUS on the root window). Lockers that do neither (for
// example i3lock, or a desktop's locker only visible over D-Bus) are not
// seen.
func (c *Conn) ScreenLocked() (bool, error) {
	info := c.recentSaver()
	if info == nil {
		var err error
		if info, err = c.saverInfo(); err != nil {
			return false, fmt.Errorf("querying screen saver state on X display %q: %w", c.display, err)
		}
	}
	if info.State == screensaver.StateOn {
		return true, nil
	}
	status, err := c.screensaverStatus()
	if err != nil || len(status) == 0 || status[0] == 0 {
		return false, err
	}
	for _, name := range []string{"LOCK", "BLANK"} {
		a, err := c.atom(name)
		if err != nil {
			return false, err
		}
		if a != xproto.AtomNone && xproto.Atom(status[0]) == a {
			return true, nil
		}
	}
	return false, nil
}

// atom returns the atom called name, or AtomNone if no client has created
// it yet (then no window can carry it). Existing atoms are cached.
func (c *Conn) atom(name string) (xproto.Atom, error) {
	c.atomMu.Lock()
	defer c.atomMu.Unlock()
	if a, ok := c.atoms[name]; ok {
		return a, nil
	}
	r, err := xproto.InternAtom(c.x, true, uint16(len(name)), name).Reply()
	if err != nil {
		return 0, fmt.Errorf("interning atom %s on X display %q: %w", name, c.display, err)
	}
	if r.Atom != xproto.AtomNone {
		c.atoms[name] = r.Atom
	}
	return r.Atom, nil
}

// maxPropertyLongs bounds property reads (in 32-bit units): 64 KiB.
const maxPropertyLongs = 1 << 14

// rootWindowProperty reads a 32-bit list property (WINDOW, CARDINAL, ATOM)
// of the root window; nil if absent.
func (c *Conn) rootWindowProperty(name string) ([]xproto.Window, error) {
	a, err := c.atom(name)
	if err != nil || a == xproto.AtomNone {
		return nil, err
	}
	r, err := xproto.GetProperty(c.x, false, c.root, a, xproto.GetPropertyTypeAny, 0, maxPropertyLongs).Reply()
	if err != nil {
		return nil, fmt.Errorf("reading %s of the root window on X display %q: %w", name, c.display, err)
	}
	return values32(r), nil
}

func values32(r *xproto.GetPropertyReply) []xproto.Window {
	if r == nil || r.Format != 32 {
		return nil
	}
	out := make([]xproto.Window, 0, len(r.Value)/4)
	for i := 0; i+4 <= len(r.Value); i += 4 {
		v := uint32(r.Value[i]) | uint32(r.Value[i+1])<<8 | uint32(r.Value[i+2])<<16 | uint32(r.Value[i+3])<<24
		out = append(out, xproto.Window(v))
	}
	return out
}

// windowProps are the per-window properties Windows reads.
var windowProps = []string{"_NET_WM_NAME", "WM_NAME", "_NET_WM_PID", "_NET_WM_STATE", "WM_STATE"}

// windowInfos reads every window's properties, pipelining the requests.
// Windows destroyed meanwhile (BadWindow) are skipped.
func (c *Conn) windowInfos(ids []xproto.Window) ([]sensors.Window, error) {
	atoms := make([]xproto.Atom, len(windowProps))
	for i, name := range windowProps {
		a, err := c.atom(name)
		if err != nil {
			return nil, err
		}
		atoms[i] = a
	}
	hidden, err := c.atom("_NET_WM_STATE_HIDDEN")
	if err != nil {
		return nil, err
	}
	cookies := make([][]xproto.GetPropertyCookie, len(ids))
	for i, id := range ids {
		cookies[i] = make([]xproto.GetPropertyCookie, len(atoms))
		for j, a := range atoms {
			if a != xproto.AtomNone {
				cookies[i][j] = xproto.GetProperty(c.x, false, id, a, xproto.GetPropertyTypeAny, 0, maxPropertyLongs)
			}
		}
	}
	out := make([]sensors.Window, 0, len(ids))
	var firstErr error
	for i, id := range ids {
		replies := make([]*xproto.GetPropertyReply, len(atoms))
		gone := false
		for j, a := range atoms {
			if a == xproto.AtomNone {
				continue
			}
			r, err := cookies[i][j].Reply() // always collect every reply
			var bad xproto.WindowError
			switch {
			case errors.As(err, &bad):
				gone = true
			case err != nil && firstErr == nil:
				firstErr = fmt.Errorf("reading window %d on X display %q: %w", id, c.display, err)
			}
			replies[j] = r
		}
		if gone {
			continue
		}
		w := sensors.Window{ID: uint64(id)}
		w.Title = decodeTitle(replies[0], replies[1])
		if pid := values32(replies[2]); len(pid) > 0 {
			w.PID = int(pid[0])
		}
		if hidden != xproto.AtomNone && slices.Contains(values32(replies[3]), xproto.Window(hidden)) {
			w.Hidden = true
		}
		if st := values32(replies[4]); len(st) > 0 && st[0] == iconicState {
			w.Hidden = true
		}
		out = append(out, w)
	}
	if firstErr != nil {
		return nil, firstErr
	}
	return out, nil
}

// decodeTitle prefers _NET_WM_NAME (UTF-8) and falls back to WM_NAME
// (Latin-1 STRING; COMPOUND_TEXT read as Latin-1, which is right for
// ASCII).
func decodeTitle(netName, name *xproto.GetPropertyReply) string {
	if netName != nil && netName.Format == 8 && len(netName.Value) > 0 {
		return strings.ToValidUTF8(string(netName.Value), "\uFFFD")
	}
	if name == nil || name.Format != 8 {
		return ""
	}
	if utf8.Valid(name.Value) && isUTF8Type(name.Type) {
		return string(name.Value)
	}
	var b strings.Builder
	for _, ch := range name.Value {
		b.WriteRune(rune(ch))
	}
	return b.String()
}

// isUTF8Type: WM_NAME is sometimes set as UTF8_STRING. xproto.AtomString
// is Latin-1; any other type (UTF8_STRING, COMPOUND_TEXT) holding valid
// UTF-8 is read as UTF-8.
func isUTF8Type(t xproto.Atom) bool { return t != xproto.AtomString }
