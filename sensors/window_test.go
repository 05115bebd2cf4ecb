package sensors

import (
	"regexp"
	"slices"
	"testing"
)

var defaultRE = regexp.MustCompile(DefaultAgentDeskPattern)

func TestMatchTitle(t *testing.T) {
	for _, tc := range []struct {
		title   string
		pattern string // default if empty
		want    bool
	}{
		// Browsers: the active tab decides.
		{title: "Agent Desk - Chromium", want: true},
		{title: "Agent Desk CANARY-7f3a - Chromium", want: true},
		{title: "Agent Desk — Inbox (3) - Google Chrome", want: true},
		{title: "Agent Desk \u2014 Mozilla Firefox", want: true},
		{title: "Agent Desk - Mozilla Firefox", want: true},
		{title: "Agent Desk \u2014 Mozilla Firefox Private Browsing", want: true},
		{title: "Agent Desk - Microsoft Edge", want: true},
		{title: "Agent Desk - Microsoft\u200b Edge", want: true},
		{title: "Agent Desk - Microsoft\u200bEdge", want: true},
		{title: "Agent Desk - Work - Microsoft\u200b Edge", want: true},
		{title: "Agent Desk and 3 more pages - Work - Microsoft\u200b Edge", want: true},
		{title: "Agent Desk and 1 more page - Microsoft Edge", want: true},
		{title: "Agent Desk - Google Chrome Beta", want: true},
		{title: "New Tab - Chromium", want: false},
		{title: "Gmail - Google Chrome", want: false},
		{title: "about:blank - Chromium", want: false},
		{title: "Mozilla Firefox", want: false},
		// A tab whose title merely contains the words does not match ^.
		{title: "Re: Agent Desk rollout - Outlook - Microsoft Edge", want: false},
		{title: "Docs: Agent Desk - Chromium", want: false},
		// Native applications: the whole title.
		{title: "Agent Desk", want: true},
		{title: "Agent Desk 2.4", want: true},
		{title: "Terminal - Agent Desk", want: false},
		{title: "", want: false},
		// Anchored at the end: the browser and profile suffixes are gone.
		{title: "Agent Desk - Chromium", pattern: `^Agent Desk$`, want: true},
		{title: "Agent Desk - Work - Microsoft Edge", pattern: `^Agent Desk$`, want: true},
		{title: "Agent Desk - Firefox rocks - Mozilla Firefox", pattern: `^Agent Desk$`, want: false},
		{title: "Agent Desk - Chromium", pattern: `Chromium`, want: false},
		// The pattern is the admin's: case-insensitive if they ask for it.
		{title: "AGENT DESK - Chromium", pattern: `(?i)^agent desk`, want: true},
		{title: "Desk - Chromium", pattern: `^(Agent )?Desk`, want: true},
	} {
		re := defaultRE
		if tc.pattern != "" {
			re = regexp.MustCompile(tc.pattern)
		}
		if got := MatchTitle(re, tc.title); got != tc.want {
			t.Errorf("MatchTitle(%q, %q) = %v, want %v (candidates %q)", re, tc.title, got, tc.want, TabTitles(tc.title))
		}
	}
	if MatchTitle(nil, "Agent Desk") {
		t.Error("a nil pattern matched")
	}
}

func TestTabTitles(t *testing.T) {
	for _, tc := range []struct {
		title string
		want  []string
	}{
		{"Agent Desk - Chromium", []string{"Agent Desk"}},
		{"Chromium", []string{""}},
		{"A - B - Chromium", []string{"A - B", "A"}},
		{"A \u2014 Mozilla Firefox", []string{"A"}},
		{"A - B \u2014 Mozilla Firefox", []string{"A - B"}},
		{"A and 2 more pages - Personal - Microsoft\u200b Edge", []string{"A and 2 more pages - Personal", "A"}},
		{"  spaced   out  ", []string{"spaced out"}},
		{"vim - notes.txt", []string{"vim - notes.txt"}},
	} {
		if got := TabTitles(tc.title); !slices.Equal(got, tc.want) {
			t.Errorf("TabTitles(%q) = %q, want %q", tc.title, got, tc.want)
		}
	}
}

func TestDecideWindows(t *testing.T) {
	desk := Window{ID: 1, Title: "Agent Desk - Chromium", PID: 10}
	deskHidden := Window{ID: 1, Title: "Agent Desk - Chromium", PID: 10, Hidden: true}
	other := Window{ID: 2, Title: "Mail - Mozilla Firefox", PID: 20}
	otherTab := Window{ID: 1, Title: "New Tab - Chromium", PID: 10}
	otherTabHidden := Window{ID: 1, Title: "New Tab - Chromium", PID: 10, Hidden: true}
	desk2 := Window{ID: 3, Title: "Agent Desk - Chromium", PID: 10}
	ptr := func(w Window) *Window { return &w }

	for _, tc := range []struct {
		name     string
		wl       WindowList
		fg, mini bool
	}{
		{"no windows", WindowList{}, false, false},
		{"desk in front", WindowList{Foreground: ptr(desk), Windows: []Window{desk, other}}, true, false},
		{"other window in front", WindowList{Foreground: ptr(other), Windows: []Window{desk, other}}, false, false},
		{"other tab in front", WindowList{Foreground: ptr(otherTab), Windows: []Window{otherTab, other}}, false, false},
		{"desk minimized, nothing active", WindowList{Windows: []Window{deskHidden, other}}, false, true},
		{"desk minimized, other in front", WindowList{Foreground: ptr(other), Windows: []Window{deskHidden, other}}, false, true},
		{"minimized window shows another tab: unknowable, not minimized", WindowList{Windows: []Window{otherTabHidden}}, false, false},
		{"a second desk window in front beats a minimized one", WindowList{Foreground: ptr(desk2), Windows: []Window{deskHidden, desk2}}, true, false},
		{"only a non-desk window minimized", WindowList{Foreground: ptr(desk), Windows: []Window{desk, {ID: 2, Title: "Mail", Hidden: true}}}, true, false},
		{"foreground without title", WindowList{Foreground: ptr(Window{ID: 9}), Windows: []Window{{ID: 9}}}, false, false},
	} {
		fg, mini := DecideWindows(defaultRE, tc.wl)
		if fg != tc.fg || mini != tc.mini {
			t.Errorf("%s: foreground, minimized = %v, %v; want %v, %v", tc.name, fg, mini, tc.fg, tc.mini)
		}
	}
	if fg, mini := DecideWindows(nil, WindowList{Foreground: ptr(desk), Windows: []Window{desk}}); fg || mini {
		t.Error("nil pattern decided something")
	}
}

func TestCompileAgentDeskPattern(t *testing.T) {
	if _, err := CompileAgentDeskPattern(DefaultAgentDeskPattern); err != nil {
		t.Fatal(err)
	}
	if _, err := CompileAgentDeskPattern("(unclosed"); err == nil {
		t.Fatal("bad pattern accepted")
	}
}
