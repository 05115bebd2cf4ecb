package web

import (
	"cmp"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-cc/vigil/coordinator/account"
	"github.com/vigil-cc/vigil/coordinator/admin"
	"github.com/vigil-cc/vigil/coordinator/store"
	"github.com/vigil-cc/vigil/internal/username"
)

// people is the People and devices page.
type people struct {
	ReadOnly    bool
	Admin       bool
	Mappings    []store.Mapping
	Unmapped    []unmappedRow
	DeskUsers   []string
	Devices     []deviceRow
	Enrollments []enrollmentRow
	Accounts    []store.Account
	Now         time.Time

	Notice string
	// Errors, each shown next to its form.
	MappingError, EnrollmentError, AccountError, DeviceError string
	// NewToken is an enrollment token just made: shown this once.
	NewToken string
	// NewPassword is a password just generated for NewPasswordFor: shown
	// this once.
	NewPassword, NewPasswordFor string
	// The values of a refused form, so they need not be typed again.
	Form map[string]string
}

type unmappedRow struct {
	store.UnmappedUser
	Guess string // the Agent Desk user the default rule would pick
}

type enrollmentRow struct {
	store.Enrollment
	Status string
	// Its devices: Pending wait for approval, Live are not revoked.
	Pending, Live int
}

type deviceRow struct {
	store.Device
	Token string // the enrollment token it used: its note (admins) or id
}

// notices are the messages after a change, by the code the redirect carries
// (never free text from the URL).
var notices = map[string]string{
	"mapped":                "Mapping saved. Sensors of that OS user now count for that Agent Desk user.",
	"unmapped":              "Mapping deleted.",
	"approved":              "Device approved: it may connect.",
	"revoked":               "Device revoked: its connection was closed and it may not reconnect.",
	"token-revoked":         "Enrollment token revoked.",
	"token-approved":        "The token's pending devices are approved: they may connect.",
	"token-devices-revoked": "The token's devices are revoked: their connections were closed.",
	"account-created":       "Account created.",
	"account-disabled":      "Account disabled: it is signed out everywhere and may not sign in.",
	"account-enabled":       "Account enabled: it may sign in again.",
}

func (w *Web) people(r *http.Request, s *session) (people, error) {
	ctx := r.Context()
	p := people{ReadOnly: s.account.Role != store.RoleAdmin, Admin: s.account.Role == store.RoleAdmin,
		Now: w.cfg.Core.Now(), Notice: notices[r.URL.Query().Get("done")], Form: map[string]string{}}
	var err error
	if p.Mappings, err = w.cfg.Store.Mappings(ctx); err != nil {
		return p, err
	}
	unmapped, err := w.cfg.Store.Unmapped(ctx)
	if err != nil {
		return p, err
	}
	for _, u := range unmapped {
		p.Unmapped = append(p.Unmapped, unmappedRow{u, username.Bare(u.OSUser)})
	}
	users, err := w.cfg.Store.DeskUsers(ctx)
	if err != nil {
		return p, err
	}
	for _, u := range users {
		p.DeskUsers = append(p.DeskUsers, u.Name)
	}
	devs, err := w.cfg.Store.Devices(ctx)
	if err != nil {
		return p, err
	}
	var es []store.Enrollment
	if p.Admin { // enrollment tokens and accounts are the admin's, as in the API
		if es, err = w.cfg.Store.Enrollments(ctx); err != nil {
			return p, err
		}
	}
	notes := map[string]string{}
	for _, e := range es {
		notes[e.ID] = cmp.Or(e.Note, e.ID)
	}
	pending, live := map[string]int{}, map[string]int{}
	for _, d := range devs {
		p.Devices = append(p.Devices, deviceRow{d, cmp.Or(notes[d.EnrollmentID], d.EnrollmentID)})
		if d.Status == store.DevicePending {
			pending[d.EnrollmentID]++
		}
		if d.Status != store.DeviceRevoked {
			live[d.EnrollmentID]++
		}
	}
	if !p.Admin {
		return p, nil
	}
	for _, e := range es {
		st := "live"
		switch {
		case !e.RevokedAt.IsZero():
			st = "revoked"
		case !p.Now.Before(e.ExpiresAt):
			st = "expired"
		case e.Uses >= e.MaxUses:
			st = "used up"
		}
		p.Enrollments = append(p.Enrollments, enrollmentRow{e, st, pending[e.ID], live[e.ID]})
	}
	if p.Accounts, err = w.cfg.Store.Accounts(ctx); err != nil {
		return p, err
	}
	return p, nil
}

func (w *Web) peoplePage(rw http.ResponseWriter, r *http.Request, s *session) {
	w.showPeople(rw, r, s, http.StatusOK, func(*people) {})
}

// showPeople renders the page with edit applied to its data (an error, a
// new token).
func (w *Web) showPeople(rw http.ResponseWriter, r *http.Request, s *session, status int, edit func(*people)) {
	p, err := w.people(r, s)
	if err != nil {
		w.internal(rw, r, err)
		return
	}
	edit(&p)
	w.render(rw, r, status, "people", page{Title: "People and devices", Nav: "people", Session: s, Data: p})
}

// done redirects back to the page with a notice.
func done(rw http.ResponseWriter, r *http.Request, code string) {
	http.Redirect(rw, r, "/admin/people?done="+code, http.StatusSeeOther)
}

// answer ends a form's change: back to the page with notice code if err is
// nil, else as failed.
func (w *Web) answer(rw http.ResponseWriter, r *http.Request, s *session, err error, code string, set func(p *people, msg string)) {
	if err != nil {
		w.failed(rw, r, s, err, set)
		return
	}
	done(rw, r, code)
}

// Where each form's error shows.
func mappingError(p *people, msg string)    { p.MappingError = msg }
func deviceError(p *people, msg string)     { p.DeviceError = msg }
func enrollmentError(p *people, msg string) { p.EnrollmentError = msg }
func accountError(p *people, msg string)    { p.AccountError = msg }

// failed shows the page with err's message next to the form that failed,
// or fails with 500 if err is not one a person can act on.
func (w *Web) failed(rw http.ResponseWriter, r *http.Request, s *session, err error, set func(p *people, msg string)) {
	msg := userMessage(err)
	if msg == "" {
		w.internal(rw, r, err)
		return
	}
	w.refused(rw, r, s, msg, set)
}

// refused shows the page with msg next to the form that failed, keeping
// what was typed (but never a password).
func (w *Web) refused(rw http.ResponseWriter, r *http.Request, s *session, msg string, set func(p *people, msg string)) {
	w.showPeople(rw, r, s, http.StatusBadRequest, func(p *people) {
		set(p, msg)
		for k, v := range r.PostForm {
			if k != "csrf" && k != "password" && len(v) > 0 {
				p.Form[k] = v[0]
			}
		}
	})
}

func (w *Web) addMapping(rw http.ResponseWriter, r *http.Request, s *session) {
	_, err := w.cfg.Admin.SetMapping(r.Context(), s.actor(), r.PostFormValue("os_user"), r.PostFormValue("desk_user"))
	w.answer(rw, r, s, err, "mapped", mappingError)
}

func (w *Web) deleteMapping(rw http.ResponseWriter, r *http.Request, s *session) {
	w.answer(rw, r, s, w.cfg.Admin.DeleteMapping(r.Context(), s.actor(), r.PostFormValue("os_user")), "unmapped", mappingError)
}

func (w *Web) approveDevice(rw http.ResponseWriter, r *http.Request, s *session) {
	w.answer(rw, r, s, w.cfg.Admin.SetDeviceStatus(r.Context(), s.actor(), r.PathValue("id"), store.DeviceApproved), "approved", deviceError)
}

func (w *Web) revokeDevice(rw http.ResponseWriter, r *http.Request, s *session) {
	w.answer(rw, r, s, w.cfg.Admin.SetDeviceStatus(r.Context(), s.actor(), r.PathValue("id"), store.DeviceRevoked), "revoked", deviceError)
}

// createEnrollment makes a token and shows it once, on this answer only.
func (w *Web) createEnrollment(rw http.ResponseWriter, r *http.Request, s *session) {
	fail := func(msg string) {
		w.refused(rw, r, s, msg, enrollmentError)
	}
	days, err := strconv.Atoi(strings.TrimSpace(r.PostFormValue("expires_days")))
	if err != nil || days < 1 || days > 365 {
		fail("Expires in must be a whole number of days from 1 to 365.")
		return
	}
	uses, err := strconv.Atoi(strings.TrimSpace(r.PostFormValue("max_uses")))
	if err != nil || uses < 1 || uses > 100000 {
		fail("Uses must be a whole number from 1 to 100000.")
		return
	}
	_, token, err := w.cfg.Admin.CreateEnrollment(r.Context(), s.actor(), admin.EnrollmentSpec{
		Note: strings.TrimSpace(r.PostFormValue("note")), TTL: time.Duration(days) * 24 * time.Hour, Uses: uses,
		HostPattern: strings.TrimSpace(r.PostFormValue("host_pattern")), AutoApprove: r.PostFormValue("auto_approve") != ""})
	if err != nil {
		w.failed(rw, r, s, err, enrollmentError)
		return
	}
	w.showPeople(rw, r, s, http.StatusOK, func(p *people) { p.NewToken = token })
}

// enrollmentDevices approves the pending devices of a token, or revokes
// all of its devices.
func (w *Web) enrollmentDevices(status store.DeviceStatus, code string) sessionHandler {
	return func(rw http.ResponseWriter, r *http.Request, s *session) {
		_, err := w.cfg.Admin.SetEnrollmentDevicesStatus(r.Context(), s.actor(), r.PathValue("id"), status)
		w.answer(rw, r, s, err, code, enrollmentError)
	}
}

func (w *Web) revokeEnrollment(rw http.ResponseWriter, r *http.Request, s *session) {
	w.answer(rw, r, s, w.cfg.Admin.RevokeEnrollment(r.Context(), s.actor(), r.PathValue("id")), "token-revoked", enrollmentError)
}

func (w *Web) createAccount(rw http.ResponseWriter, r *http.Request, s *session) {
	_, err := account.New(r.Context(), w.cfg.Store, w.cfg.Core.Now(), s.actor(),
		r.PostFormValue("name"), r.PostFormValue("role"), r.PostFormValue("password"))
	var msg string
	switch {
	case errors.Is(err, account.ErrInvalid):
		msg = strings.TrimPrefix(err.Error(), account.ErrInvalid.Error()+": ")
	case errors.Is(err, store.ErrDuplicate):
		msg = "An account with this name exists; pick another name."
	case err != nil:
		w.internal(rw, r, err)
		return
	}
	if msg != "" {
		w.refused(rw, r, s, msg, accountError)
		return
	}
	done(rw, r, "account-created")
}

// setAccountDisabled disables an account (signed out everywhere at once)
// or enables it again.
func (w *Web) setAccountDisabled(disabled bool) sessionHandler {
	return func(rw http.ResponseWriter, r *http.Request, s *session) {
		err := account.SetDisabled(r.Context(), w.cfg.Store, w.cfg.Core.Now(), s.actor(), r.PathValue("name"), disabled)
		if errors.Is(err, store.ErrLastAdmin) {
			w.refused(rw, r, s, "This is the last admin account that may sign in: make another admin first.", accountError)
			return
		}
		if disabled && err == nil && username.Fold(r.PathValue("name")) == s.account.Name {
			http.Redirect(rw, r, "/login", http.StatusSeeOther) // signed themself out
			return
		}
		code := "account-enabled"
		if disabled {
			code = "account-disabled"
		}
		w.answer(rw, r, s, err, code, accountError)
	}
}

// resetPassword gives an account a new generated password, shown once;
// its sessions end at once.
func (w *Web) resetPassword(rw http.ResponseWriter, r *http.Request, s *session) {
	name := username.Fold(r.PathValue("name"))
	pw := account.RandomPassword()
	if err := account.SetPassword(r.Context(), w.cfg.Store, w.cfg.Core.Now(), s.actor(), name, pw, nil); err != nil {
		w.failed(rw, r, s, err, accountError)
		return
	}
	if name == s.account.Name {
		http.Redirect(rw, r, "/login", http.StatusSeeOther) // its own sessions ended too
		return
	}
	w.showPeople(rw, r, s, http.StatusOK, func(p *people) { p.NewPassword, p.NewPasswordFor = pw, name })
}
