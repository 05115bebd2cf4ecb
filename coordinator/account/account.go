// Package account makes the named web accounts (docs/web.md): it checks
// names, roles and passwords, hashes passwords with bcrypt and stores new
// accounts with their audit entry. The CLI (vigil-coordinator account add),
// the API (POST /api/v1/accounts) and the first start all go through New.
package account

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"github.com/vigil-cc/vigil/coordinator/store"
	"github.com/vigil-cc/vigil/internal/username"
)

// Password bounds. bcrypt reads at most 72 bytes; a longer password would
// be silently cut, so it is refused instead.
const (
	MinPassword = 10
	MaxPassword = 72
)

// Cost is the bcrypt cost: about 50–100 ms per check on a small server,
// which the login rate limit multiplies into years for a guesser.
const Cost = bcrypt.DefaultCost

// ErrInvalid: a name, role or password that cannot make an account. The
// error's text says what to fix.
var ErrInvalid = errors.New("invalid account")

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// CheckName reports what is wrong with a canonical account name.
func CheckName(name string) error {
	if name == "" || len(name) > 64 {
		return invalidf("name must be 1 to 64 characters")
	}
	for _, r := range name {
		if unicode.IsControl(r) || unicode.IsSpace(r) || r == ':' {
			return invalidf("name must have no spaces, colons or control characters")
		}
	}
	return nil
}

// ParseRole checks a role name: admin, supervisor or agent.
func ParseRole(s string) (store.Role, error) {
	r := store.Role(strings.ToLower(strings.TrimSpace(s)))
	if !store.ValidAccountRole(r) {
		return "", invalidf("role must be admin, supervisor or agent, got %q", s)
	}
	return r, nil
}

// CheckPassword reports what is wrong with a new password.
func CheckPassword(pw string) error {
	if n := utf8.RuneCountInString(pw); n < MinPassword || len(pw) > MaxPassword {
		return invalidf("password must be %d to %d bytes long (at least %d characters)", MinPassword, MaxPassword, MinPassword)
	}
	return nil
}

// Hash returns the bcrypt hash of a password that passed CheckPassword.
func Hash(pw string) ([]byte, error) {
	if err := CheckPassword(pw); err != nil {
		return nil, err
	}
	return bcrypt.GenerateFromPassword([]byte(pw), Cost)
}

// dummy is compared against when the account does not exist, so a login
// takes as long for an unknown name as for a wrong password.
var dummy, _ = bcrypt.GenerateFromPassword([]byte("not a password of anyone"), Cost)

// Verify reports whether pw matches a's hash. With a nil account (no such
// name) it spends the same time and reports false.
func Verify(a *store.Account, pw string) bool {
	if a == nil || a.Disabled() {
		bcrypt.CompareHashAndPassword(dummy, []byte(pw))
		return false
	}
	return bcrypt.CompareHashAndPassword(a.PasswordHash, []byte(pw)) == nil
}

// RandomPassword is a fresh password of 24 characters from an alphabet
// without look-alikes (about 130 bits).
func RandomPassword() string {
	const alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	return randomFrom(alphabet, 24)
}

func randomFrom(alphabet string, n int) string {
	out := make([]byte, 0, n)
	rnd := make([]byte, n*2)
	for len(out) < n {
		rand.Read(rnd) // never fails (crypto/rand, Go ≥ 1.24)
		for _, c := range rnd {
			// Reject the top of the range so every letter is equally likely.
			if int(c) < 256-256%len(alphabet) && len(out) < n {
				out = append(out, alphabet[int(c)%len(alphabet)])
			}
		}
	}
	return string(out)
}

// New checks name, role and password, hashes the password and stores the
// account with an "account.created" audit entry naming actor. name is
// canonicalised (username.Fold). Errors: ErrInvalid (with what to fix),
// store.ErrDuplicate (the name is taken).
func New(ctx context.Context, st *store.Store, now time.Time, actor, name, role, password string) (store.Account, error) {
	name = username.Fold(name)
	if err := CheckName(name); err != nil {
		return store.Account{}, err
	}
	r, err := ParseRole(role)
	if err != nil {
		return store.Account{}, err
	}
	hash, err := Hash(password)
	if err != nil {
		return store.Account{}, err
	}
	a := store.Account{Name: name, Role: r, PasswordHash: hash, CreatedAt: now}
	detail, _ := json.Marshal(map[string]string{"account": name, "role": string(r)})
	audit := store.AuditEntry{At: now, Actor: actor, Kind: "account.created", Detail: detail}
	if err := st.CreateAccount(ctx, a, audit); err != nil {
		return store.Account{}, err
	}
	return a, nil
}

// SetDisabled disables the account called name (or enables it again),
// audited as account.disabled or account.enabled naming actor. Disabling
// ends its browser sessions at once. Errors: store.ErrNotFound,
// store.ErrLastAdmin (the last admin account that may sign in).
func SetDisabled(ctx context.Context, st *store.Store, now time.Time, actor, name string, disabled bool) error {
	name = username.Fold(name)
	kind, at := "account.enabled", time.Time{}
	if disabled {
		kind, at = "account.disabled", now
	}
	detail, _ := json.Marshal(map[string]string{"account": name})
	return st.SetAccountDisabled(ctx, name, at, store.AuditEntry{At: now, Actor: actor, Kind: kind, Detail: detail})
}

// SetPassword checks and hashes password and makes it the password of the
// account called name, audited as account.password_changed naming actor
// (never the password). Every browser session of the account ends at once,
// except keep's (the session that changed its own password; nil: none).
// Errors: ErrInvalid, store.ErrNotFound.
func SetPassword(ctx context.Context, st *store.Store, now time.Time, actor, name, password string, keep []byte) error {
	name = username.Fold(name)
	hash, err := Hash(password)
	if err != nil {
		return err
	}
	detail, _ := json.Marshal(map[string]string{"account": name})
	return st.SetAccountPassword(ctx, name, hash, keep, store.AuditEntry{At: now, Actor: actor, Kind: "account.password_changed", Detail: detail})
}
