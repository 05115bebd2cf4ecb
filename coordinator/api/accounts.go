package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/vigil-cc/vigil/coordinator/account"
	"github.com/vigil-cc/vigil/coordinator/store"
	"github.com/vigil-cc/vigil/internal/username"
)

// registerAccounts adds the web accounts' routes (docs/web.md): people who
// sign in to the admin pages and the reference Agent Desk.
func (a *API) registerAccounts(mux *http.ServeMux) {
	a.route(mux, "GET /api/v1/accounts", admins, a.listAccounts)
	a.route(mux, "POST /api/v1/accounts", admins, a.createAccount)
	a.route(mux, "POST /api/v1/accounts/{name}/disable", admins, a.setAccountDisabled(true))
	a.route(mux, "POST /api/v1/accounts/{name}/enable", admins, a.setAccountDisabled(false))
	a.route(mux, "PUT /api/v1/accounts/{name}/password", admins, a.setAccountPassword)
}

// setAccountDisabled disables an account (its sessions end at once) or
// enables it again.
func (a *API) setAccountDisabled(disabled bool) handler {
	return func(r *http.Request, who actor) (any, error) {
		name := username.Fold(r.PathValue("name"))
		err := account.SetDisabled(r.Context(), a.Store, a.Core.Now(), who.name, name, disabled)
		if errors.Is(err, store.ErrLastAdmin) {
			return nil, errorf(http.StatusConflict, "%q is the last admin account that may sign in: make another admin first", name)
		}
		if err != nil {
			return nil, err
		}
		return map[string]any{"name": name, "disabled": disabled}, nil
	}
}

// setAccountPassword resets an account's password (its sessions end at
// once). Without a password one is generated and returned once.
func (a *API) setAccountPassword(r *http.Request, who actor) (any, error) {
	var b struct {
		Password *string `json:"password"`
	}
	if err := decodeStrict(r, &b); err != nil {
		return nil, err
	}
	pw, generated := passwordOrRandom(b.Password)
	name := username.Fold(r.PathValue("name"))
	err := account.SetPassword(r.Context(), a.Store, a.Core.Now(), who.name, name, pw, nil)
	if errors.Is(err, account.ErrInvalid) {
		return nil, errorf(http.StatusBadRequest, "%s", err.Error())
	}
	if err != nil {
		return nil, err
	}
	out := map[string]any{"name": name}
	if generated {
		out["password"] = pw
	}
	return out, nil
}

// passwordOrRandom is the password given, or a generated one (generated
// true) when none was.
func passwordOrRandom(given *string) (pw string, generated bool) {
	if given != nil {
		return *given, false
	}
	return account.RandomPassword(), true
}

// Account is a web account as the API shows it (never its password hash).
type Account struct {
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
	Disabled  bool      `json:"disabled,omitempty"`
	// Password is set only in the answer to a create that asked for a
	// generated password: shown once.
	Password string `json:"password,omitempty"`
}

func (a *API) listAccounts(r *http.Request, _ actor) (any, error) {
	as, err := a.Store.Accounts(r.Context())
	return views(as, err, func(x store.Account) Account {
		return Account{Name: x.Name, Role: string(x.Role), CreatedAt: x.CreatedAt, Disabled: x.Disabled()}
	})
}

// createAccount makes a named account. Without a password one is generated
// and returned once.
func (a *API) createAccount(r *http.Request, who actor) (any, error) {
	var b struct {
		Name     string  `json:"name"`
		Role     string  `json:"role"`
		Password *string `json:"password"`
	}
	if err := decodeStrict(r, &b); err != nil {
		return nil, err
	}
	pw, generated := passwordOrRandom(b.Password)
	x, err := account.New(r.Context(), a.Store, a.Core.Now(), who.name, b.Name, b.Role, pw)
	switch {
	case errors.Is(err, account.ErrInvalid):
		return nil, errorf(http.StatusBadRequest, "%s", err.Error())
	case errors.Is(err, store.ErrDuplicate):
		return nil, errorf(http.StatusConflict, "an account named %q exists; pick another name", username.Fold(b.Name))
	case err != nil:
		return nil, err
	}
	out := Account{Name: x.Name, Role: string(x.Role), CreatedAt: x.CreatedAt.UTC()}
	if generated {
		out.Password = pw
	}
	return created{out}, nil
}
