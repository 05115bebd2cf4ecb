package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// RoleAgent is the role of a web account that signs in to the reference
// Agent Desk only; API tokens never have it.
const RoleAgent Role = "agent"

// ValidAccountRole reports whether r is a role a web account may have:
// admin, supervisor or agent.
func ValidAccountRole(r Role) bool {
	return r == RoleAdmin || r == RoleSupervisor || r == RoleAgent
}

// Account is a named person who signs in to the web pages (admin,
// supervisor) or the reference Agent Desk (agent). Only a bcrypt hash of
// the password is stored.
type Account struct {
	Name         string // case-folded by the caller; an agent's Agent Desk user
	Role         Role
	PasswordHash []byte
	CreatedAt    time.Time // the store's clock if zero
	DisabledAt   time.Time // zero while it may sign in
}

// Disabled reports whether the account may no longer sign in.
func (a Account) Disabled() bool { return !a.DisabledAt.IsZero() }

const accountCols = "name, role, password_hash, created_at, disabled_at"

func scanAccount(sc scanner) (Account, error) {
	var a Account
	var created int64
	var disabled sql.NullInt64
	if err := sc.Scan(&a.Name, &a.Role, &a.PasswordHash, &created, &disabled); err != nil {
		return Account{}, err
	}
	a.CreatedAt, a.DisabledAt = fromMS(created), fromNullMS(disabled)
	return a, nil
}

// CreateAccount stores a and appends audit, in one transaction.
// ErrDuplicate if the name is taken; ErrInvalid without a name, a hash or a
// known role.
func (s *Store) CreateAccount(ctx context.Context, a Account, audit AuditEntry) error {
	switch {
	case a.Name == "":
		return fmt.Errorf("store: create account: %w", invalid("account has no name"))
	case !ValidAccountRole(a.Role):
		return fmt.Errorf("store: create account %q: %w", a.Name, invalid("unknown role %q", a.Role))
	case len(a.PasswordHash) == 0:
		return fmt.Errorf("store: create account %q: %w", a.Name, invalid("account has no password hash"))
	}
	if a.CreatedAt.IsZero() {
		a.CreatedAt = s.now()
	}
	return s.write(ctx, fmt.Sprintf("create account %q", a.Name), func(tx *txn) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO accounts ("+accountCols+") VALUES (?, ?, ?, ?, ?)",
			a.Name, string(a.Role), a.PasswordHash, toMS(a.CreatedAt), nullMS(a.DisabledAt))
		if err != nil {
			return dup(err, "an account has this name")
		}
		_, err = s.insertAudit(ctx, tx, audit)
		return err
	})
}

// Account returns the account called name. ErrNotFound if there is none.
func (s *Store) Account(ctx context.Context, name string) (Account, error) {
	return queryRow(ctx, s.rdb, fmt.Sprintf("account %q", name), scanAccount, "SELECT "+accountCols+" FROM accounts WHERE name = ?", name)
}

// Accounts returns every account by name.
func (s *Store) Accounts(ctx context.Context) ([]Account, error) {
	return queryRows(ctx, s.rdb, "list accounts", scanAccount, "SELECT "+accountCols+" FROM accounts ORDER BY name")
}

// HasAdminAccount reports whether an admin account that may sign in exists.
func (s *Store) HasAdminAccount(ctx context.Context) (bool, error) {
	var n int
	err := s.rdb.QueryRowContext(ctx, "SELECT COUNT(*) FROM accounts WHERE role = ? AND disabled_at IS NULL",
		string(RoleAdmin)).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("store: look for an admin account: %w", err)
	}
	return n > 0, nil
}

// WebSession is a signed-in browser. IDHash is the hash of the cookie's
// value; CSRF is the token the session's forms carry.
type WebSession struct {
	IDHash    []byte
	Account   string
	CSRF      string
	CreatedAt time.Time // the store's clock if zero
	ExpiresAt time.Time // required
}

// CreateWebSession stores ws. ErrInvalid without a hash, an account, a CSRF
// token or an expiry; ErrDuplicate if the hash is taken.
func (s *Store) CreateWebSession(ctx context.Context, ws WebSession) error {
	switch {
	case len(ws.IDHash) == 0 || ws.Account == "" || ws.CSRF == "" || ws.ExpiresAt.IsZero():
		return fmt.Errorf("store: create web session: %w", invalid("web session needs an id hash, an account, a CSRF token and an expiry"))
	}
	if ws.CreatedAt.IsZero() {
		ws.CreatedAt = s.now()
	}
	return s.write(ctx, fmt.Sprintf("create web session for %q", ws.Account), func(tx *txn) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO web_sessions (id_hash, account, csrf, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
			ws.IDHash, ws.Account, ws.CSRF, toMS(ws.CreatedAt), toMS(ws.ExpiresAt))
		return dup(err, "the session id is taken")
	})
}

// WebSession returns the session with idHash and its account, if the
// session has not expired by now and the account may sign in. ErrNotFound
// otherwise.
func (s *Store) WebSession(ctx context.Context, idHash []byte, now time.Time) (WebSession, Account, error) {
	row := s.rdb.QueryRowContext(ctx, `SELECT ws.id_hash, ws.account, ws.csrf, ws.created_at, ws.expires_at,
	a.name, a.role, a.password_hash, a.created_at, a.disabled_at
FROM web_sessions ws JOIN accounts a ON a.name = ws.account
WHERE ws.id_hash = ? AND ws.expires_at > ? AND a.disabled_at IS NULL`, idHash, toMS(now))
	var ws WebSession
	var a Account
	var wsCreated, wsExpires, aCreated int64
	var disabled sql.NullInt64
	err := row.Scan(&ws.IDHash, &ws.Account, &ws.CSRF, &wsCreated, &wsExpires,
		&a.Name, &a.Role, &a.PasswordHash, &aCreated, &disabled)
	if err != nil {
		return WebSession{}, Account{}, fmt.Errorf("store: web session: %w", notFound(err))
	}
	ws.CreatedAt, ws.ExpiresAt = fromMS(wsCreated), fromMS(wsExpires)
	a.CreatedAt, a.DisabledAt = fromMS(aCreated), fromNullMS(disabled)
	return ws, a, nil
}

// DeleteWebSession ends the session with idHash. ErrNotFound if there is
// none.
func (s *Store) DeleteWebSession(ctx context.Context, idHash []byte) error {
	return s.write(ctx, "delete web session", func(tx *txn) error {
		return execOne(ctx, tx, "DELETE FROM web_sessions WHERE id_hash = ?", idHash)
	})
}

// PruneWebSessions deletes the sessions expired by now and reports how many.
func (s *Store) PruneWebSessions(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := s.write(ctx, "prune web sessions", func(tx *txn) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM web_sessions WHERE expires_at <= ?", toMS(now))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

// SetAccountDisabled disables the account called name at at (or enables it
// again with a zero at) and appends audit, in one transaction; disabling
// also deletes its browser sessions, so it is signed out everywhere at once.
// Disabling the last admin account that may sign in is refused
// (ErrLastAdmin). ErrNotFound if there is no such account.
func (s *Store) SetAccountDisabled(ctx context.Context, name string, at time.Time, audit AuditEntry) error {
	return s.write(ctx, fmt.Sprintf("set account %q disabled", name), func(tx *txn) error {
		if err := execOne(ctx, tx, "UPDATE accounts SET disabled_at = ? WHERE name = ?", nullMS(at), name); err != nil {
			return err
		}
		if !at.IsZero() {
			var admins int
			if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM accounts WHERE role = ? AND disabled_at IS NULL", string(RoleAdmin)).Scan(&admins); err != nil {
				return err
			}
			var role Role
			if err := tx.QueryRowContext(ctx, "SELECT role FROM accounts WHERE name = ?", name).Scan(&role); err != nil {
				return err
			}
			if role == RoleAdmin && admins == 0 {
				return ErrLastAdmin
			}
			if _, err := tx.ExecContext(ctx, "DELETE FROM web_sessions WHERE account = ?", name); err != nil {
				return err
			}
		}
		_, err := s.insertAudit(ctx, tx, audit)
		return err
	})
}

// SetAccountPassword replaces the password hash of the account called name
// and appends audit, in one transaction, deleting its browser sessions
// (but keep, if not nil: the session changing its own password stays). A
// new session for the browser that made the change is the caller's.
// ErrNotFound if there is no such account.
func (s *Store) SetAccountPassword(ctx context.Context, name string, hash []byte, keep []byte, audit AuditEntry) error {
	if len(hash) == 0 {
		return fmt.Errorf("store: set password of %q: %w", name, invalid("no password hash"))
	}
	return s.write(ctx, fmt.Sprintf("set password of account %q", name), func(tx *txn) error {
		if err := execOne(ctx, tx, "UPDATE accounts SET password_hash = ? WHERE name = ?", hash, name); err != nil {
			return err
		}
		if keep == nil {
			keep = []byte{} // matches no session
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM web_sessions WHERE account = ? AND id_hash <> ?", name, keep); err != nil {
			return err
		}
		_, err := s.insertAudit(ctx, tx, audit)
		return err
	})
}
