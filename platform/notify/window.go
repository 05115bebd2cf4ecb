package notify

import (
	"strings"
	"time"
	"unicode"
)

// The on-screen warning window of systems without a notification service
// (Windows): what it shows and the ids of its notifications, apart from
// the system calls, so they are tested on every OS. The window itself,
// and where it goes on screen, is platform/win32's NoticeWindow.

// WindowTitle is the warning window's title. It is fixed text: never a
// title of the user's windows, which the agent reads but must not show or
// pass on.
const WindowTitle = "Vigil — inactivity warning"

// NoticeFor is how long a notification that is not urgent (the logout
// notice) stays in the window before it closes by itself, unless clicked
// away or replaced before.
const NoticeFor = 5 * time.Minute

// maxWindowText bounds the text shown, in characters.
const maxWindowText = 400

// windowText is what the window shows for a notification: the summary,
// a blank line, the body; control characters (other than the line breaks
// it adds) become spaces and the whole is cut to maxWindowText
// characters. Lines end in CR LF, as a Windows static control wants.
func windowText(summary, body string) string {
	clean := func(s string) string {
		return strings.Map(func(r rune) rune {
			if unicode.IsControl(r) {
				return ' '
			}
			return r
		}, strings.TrimSpace(s))
	}
	s, b := clean(summary), clean(body)
	var text string
	switch {
	case s == "":
		text = b
	case b == "":
		text = s
	default:
		text = s + "\r\n\r\n" + b
	}
	if r := []rune(text); len(r) > maxWindowText {
		text = string(r[:maxWindowText-1]) + "…"
	}
	return text
}

// windowIDs gives the window's notifications their ids like a
// notification service: a new id for each new notification, the same one
// when a notification replaces the one on screen. One window shows one
// notification at a time, so a new notification replaces whatever was
// shown.
type windowIDs struct {
	last uint32 // the last id given
	open uint32 // the id shown, 0 if none
}

// notify is the id of a notification replacing replaces (0: a new one).
func (w *windowIDs) notify(replaces uint32) uint32 {
	if replaces == 0 || replaces != w.open {
		w.last++
		if w.last == 0 { // wrapped: 0 means "none"
			w.last = 1
		}
		w.open = w.last
	}
	return w.open
}

// close says whether closing notification id takes the window down: only
// when it is the one shown.
func (w *windowIDs) close(id uint32) bool {
	if id == 0 || id != w.open {
		return false
	}
	w.open = 0
	return true
}

// expired forgets the shown notification after the window closed by
// itself (the notice's time ran out, or the user closed it).
func (w *windowIDs) expired() { w.open = 0 }
