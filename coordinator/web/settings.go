package web

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"

	"github.com/vigil-cc/vigil/coordinator/policy"
	"github.com/vigil-cc/vigil/coordinator/store"
	"github.com/vigil-cc/vigil/protocol"
)

// settingsForm is Admin > Agent Desk Settings: the values shown (in force,
// or as submitted when refused), and a message per field.
type settingsForm struct {
	Enabled      bool
	Seconds      string
	TitlePattern string
	SecondsError string
	PatternError string
	Saved        bool
	ReadOnly     bool
	InForce      store.Settings
	Min, Max     int
}

func (w *Web) settingsForm(s *session, cur store.Settings) settingsForm {
	return settingsForm{Enabled: cur.Enabled, Seconds: strconv.Itoa(cur.TimeoutSeconds), TitlePattern: cur.TitlePattern,
		InForce: cur, ReadOnly: s.account.Role != store.RoleAdmin, Min: protocol.MinTimeoutS, Max: protocol.MaxTimeoutS}
}

func (w *Web) settingsPage(rw http.ResponseWriter, r *http.Request, s *session) {
	f := w.settingsForm(s, w.cfg.Policy.Settings())
	f.Saved = r.URL.Query().Get("saved") == "1"
	w.render(rw, r, http.StatusOK, "settings", page{Title: "Agent Desk Settings", Nav: "settings", Session: s, Data: f})
}

// wholeNumber is what the seconds field takes: digits, as the API takes a
// JSON integer (no fraction, exponent, sign or spaces).
var wholeNumber = regexp.MustCompile(`^[0-9]{1,9}$`)

// parseSeconds applies the API's rule for inactivity_timeout.seconds to the
// form's text.
func parseSeconds(text string) (int, error) {
	n, err := strconv.Atoi(text)
	if !wholeNumber.MatchString(text) || err != nil || n < protocol.MinTimeoutS || n > protocol.MaxTimeoutS {
		shown := text
		if len(shown) > 40 {
			shown = shown[:40] + "…"
		}
		if shown == "" {
			return 0, fmt.Errorf("Enter the timeout: a whole number of seconds from %d to %d.", protocol.MinTimeoutS, protocol.MaxTimeoutS)
		}
		return 0, fmt.Errorf("The timeout must be a whole number of seconds from %d to %d; %q is not.", protocol.MinTimeoutS, protocol.MaxTimeoutS, shown)
	}
	return n, nil
}

// saveSettings validates the form as the API validates its body, and saves
// nothing unless every field is right. Saving goes through policy.Update:
// audited with the account as actor and applied to every session at once.
func (w *Web) saveSettings(rw http.ResponseWriter, r *http.Request, s *session) {
	cur := w.cfg.Policy.Settings()
	f := w.settingsForm(s, cur)
	f.Enabled = r.PostFormValue("enabled") == "on"
	f.Seconds = r.PostFormValue("seconds")
	f.TitlePattern = r.PostFormValue("title_pattern")
	if _, ok := r.PostForm["title_pattern"]; !ok {
		f.TitlePattern = cur.TitlePattern // a form without the field leaves it alone
	}

	next := store.Settings{Enabled: f.Enabled, TimeoutSeconds: cur.TimeoutSeconds, TitlePattern: f.TitlePattern}
	n, err := parseSeconds(f.Seconds)
	if err != nil {
		f.SecondsError = err.Error()
	} else {
		next.TimeoutSeconds = n
	}
	// The pattern's own checks, with a timeout known to be valid.
	if err := policy.Validate(store.Settings{Enabled: true, TimeoutSeconds: protocol.MinTimeoutS, TitlePattern: next.TitlePattern}); err != nil {
		f.PatternError = err.Error() + "."
	}
	if f.SecondsError == "" && f.PatternError == "" {
		if err := policy.Validate(next); err != nil {
			f.SecondsError = err.Error() + "."
		}
	}
	if f.SecondsError != "" || f.PatternError != "" {
		w.render(rw, r, http.StatusBadRequest, "settings", page{Title: "Agent Desk Settings", Nav: "settings", Session: s, Data: f})
		return
	}
	if err := w.cfg.Policy.Update(r.Context(), s.actor(), next); err != nil {
		w.internal(rw, r, err)
		return
	}
	http.Redirect(rw, r, "/admin/settings?saved=1", http.StatusSeeOther)
}
