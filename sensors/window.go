package sensors

import (
	"fmt"
	"regexp"
	"strings"
)

// DefaultAgentDeskPattern is the policy's default Agent Desk title pattern:
// a tab (or window) whose title starts with "Agent Desk".
const DefaultAgentDeskPattern = `^Agent Desk`

// CompileAgentDeskPattern compiles an Agent Desk title pattern (Go RE2
// syntax). The error quotes the pattern, which is policy, not a title.
func CompileAgentDeskPattern(pattern string) (*regexp.Regexp, error) {
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("agent desk title pattern %q: %w", pattern, err)
	}
	return re, nil
}

// Window is one top-level window as the platform sees it.
type Window struct {
	ID uint64 // the OS's handle (X window id, HWND), for diagnostics only
	// Title is the window's title as the OS gives it. It is an input to
	// the decisions in this package and nothing else: never stored in a
	// Reading, logged or sent.
	Title  string
	PID    int  // owning process, 0 if unknown
	Hidden bool // minimized: _NET_WM_STATE_HIDDEN / WM_STATE Iconic (X11), IsIconic (Windows)
}

// WindowList is one snapshot of a session's top-level windows.
type WindowList struct {
	// Foreground is the active window, nil when none is (e.g. right after
	// the active window was minimized).
	Foreground *Window
	// Windows are all top-level windows, the foreground one included.
	Windows []Window
}

// DecideWindows applies the Agent Desk rules to a snapshot:
//
//   - foreground: the foreground window's title matches (MatchTitle, so for a
//     browser its active tab decides);
//   - minimized: no matching window is in front, and some matching window
//     is hidden (minimized/iconic).
//
// A nil pattern matches nothing.
func DecideWindows(re *regexp.Regexp, wl WindowList) (foreground, minimized bool) {
	if re == nil {
		return false, false
	}
	foreground = wl.Foreground != nil && MatchTitle(re, wl.Foreground.Title)
	if foreground {
		return true, false
	}
	for _, w := range wl.Windows {
		if w.Hidden && MatchTitle(re, w.Title) {
			return false, true
		}
	}
	return false, false
}

// MatchTitle reports whether a window title is the Agent Desk: the browser
// suffix (" - Chromium", " — Mozilla Firefox", " - Microsoft Edge", ...) is
// stripped so that the active tab's title is what re is matched against.
// A title without a known browser suffix (a native application) is matched
// as it is. See TabTitles for the exact rules. A nil re matches nothing.
func MatchTitle(re *regexp.Regexp, windowTitle string) bool {
	if re == nil {
		return false
	}
	for _, t := range TabTitles(windowTitle) {
		if re.MatchString(t) {
			return true
		}
	}
	return false
}

// browser is a window-title suffix a browser appends to the active tab's
// title.
type browser struct {
	name string
	// chromiumFamily browsers may put a profile name between the tab title
	// and the browser name ("Inbox - Work - Microsoft Edge").
	chromiumFamily bool
	// edge: Microsoft Edge also appends " and N more pages" to the tab title
	// when the window has several tabs.
	edge bool
}

// browsers are the known suffixes, longest first where one name ends
// another ("Mozilla Firefox Private Browsing" before "Mozilla Firefox").
var browsers = []browser{
	{name: "Mozilla Firefox Private Browsing"},
	{name: "Mozilla Firefox"},
	{name: "Firefox Developer Edition"},
	{name: "Firefox Nightly"},
	{name: "Google Chrome Canary", chromiumFamily: true},
	{name: "Google Chrome Beta", chromiumFamily: true},
	{name: "Google Chrome Dev", chromiumFamily: true},
	{name: "Google Chrome", chromiumFamily: true},
	{name: "Chromium", chromiumFamily: true},
	{name: "Microsoft Edge Canary", chromiumFamily: true, edge: true},
	{name: "Microsoft Edge Beta", chromiumFamily: true, edge: true},
	{name: "Microsoft Edge Dev", chromiumFamily: true, edge: true},
	{name: "Microsoft Edge", chromiumFamily: true, edge: true},
}

// separators browsers put between the tab title and their name: hyphen,
// em dash (Firefox), en dash.
var separators = []string{" - ", " \u2014 ", " \u2013 "}

// zeroWidth are invisible characters some browsers put in their name
// (Edge titles itself "Microsoft\u200b Edge").
var zeroWidth = strings.NewReplacer("\u200b", " ", "\u200c", " ", "\u200d", " ", "\u2060", " ", "\ufeff", " ")

var edgeMorePages = regexp.MustCompile(` and \d+ more pages?$`)

// TabTitles returns the titles a window title is matched as (MatchTitle):
//
//   - Zero-width characters become spaces and runs of spaces collapse to
//     one, so "Microsoft\u200b Edge" reads "Microsoft Edge".
//   - A known browser name after " - ", " — " or " – " at the end is
//     stripped, leaving the active tab's title; a title that is only the
//     browser name gives "".
//   - Chromium-family browsers (Chromium, Chrome, Edge) may show a profile
//     between the tab and the browser name, so the tab title with its last
//     " - segment" stripped is a second candidate ("Agent Desk - Work -
//     Microsoft Edge" gives "Agent Desk - Work" and "Agent Desk").
//   - Edge's " and N more pages" is stripped from each candidate.
//
// A title without a browser suffix is returned as the only candidate.
func TabTitles(windowTitle string) []string {
	t := strings.TrimSpace(strings.Join(strings.Fields(zeroWidth.Replace(windowTitle)), " "))
	// strings.Fields also splits on tabs and newlines; titles have neither
	// in practice, and the pattern sees a normalised title either way.
	for _, b := range browsers {
		tab, ok := stripBrowser(t, b.name)
		if !ok {
			continue
		}
		out := []string{tab}
		if b.chromiumFamily {
			if i := strings.LastIndex(tab, " - "); i >= 0 {
				out = append(out, tab[:i])
			}
		}
		if b.edge {
			for i := range out {
				out[i] = edgeMorePages.ReplaceAllString(out[i], "")
			}
		}
		return out
	}
	return []string{t}
}

// stripBrowser removes "<sep><name>" from the end of t, or all of t when t
// is just the name.
func stripBrowser(t, name string) (string, bool) {
	if t == name {
		return "", true
	}
	for _, sep := range separators {
		if s, ok := strings.CutSuffix(t, sep+name); ok {
			return s, true
		}
	}
	return "", false
}
