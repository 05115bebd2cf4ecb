package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Role is what an API token may do.
type Role string

const (
	RoleAdmin       Role = "admin"       // everything
	RoleSupervisor  Role = "supervisor"  // read-only dashboard and audit
	RoleIntegration Role = "integration" // the platform's endpoints: call state, desk login/logout
)

// Valid reports whether r is one of the roles.
func (r Role) Valid() bool {
	return r == RoleAdmin || r == RoleSupervisor || r == RoleIntegration
}

// APIToken is a bearer token for the HTTP API. Only its hash is stored.
type APIToken struct {
	ID        string // NewID() if empty at creation
	Name      string // unique among live tokens; the audit names the actor by it
	Role      Role
	Hash      []byte
	CreatedAt time.Time // the store's clock if zero
	RevokedAt time.Time // zero while live
}

// Revoked reports whether the token was revoked.
func (t APIToken) Revoked() bool { return !t.RevokedAt.IsZero() }

const apiTokenCols = "id, name, role, hash, created_at, revoked_at"

func scanAPIToken(sc scanner) (APIToken, error) {
	var t APIToken
	var created int64
	var revoked sql.NullInt64
	if err := sc.Scan(&t.ID, &t.Name, &t.Role, &t.Hash, &created, &revoked); err != nil {
		return APIToken{}, err
	}
	t.CreatedAt, t.RevokedAt = fromMS(created), fromNullMS(revoked)
	return t, nil
}

// CreateAPIToken stores t. Give it an ID (NewID) to know it; one is made
// up otherwise. ErrDuplicate if the hash, the ID or a live token's name is
// taken. To audit it in the same transaction, use (*Tx).CreateAPIToken.
func (s *Store) CreateAPIToken(ctx context.Context, t APIToken) error {
	return s.write(ctx, fmt.Sprintf("create api token %q", t.Name), func(tx *txn) error {
		return s.createAPIToken(ctx, tx, t)
	})
}

func (s *Store) createAPIToken(ctx context.Context, q querier, t APIToken) error {
	switch {
	case t.Name == "":
		return invalid("api token has no name")
	case !t.Role.Valid():
		return invalid("unknown role %q", t.Role)
	case len(t.Hash) == 0:
		return invalid("api token has no hash")
	}
	if t.ID == "" {
		t.ID = NewID()
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = s.now()
	}
	_, err := q.ExecContext(ctx, "INSERT INTO api_tokens ("+apiTokenCols+") VALUES (?, ?, ?, ?, ?, NULL)",
		t.ID, t.Name, string(t.Role), t.Hash, toMS(t.CreatedAt))
	return dup(err, "a live token has this name, or the id or hash is taken")
}

// APITokenByHash returns the token with hash. ErrNotFound if no token has
// hash. A revoked token comes back with ErrAPITokenRevoked, which also
// matches ErrNotFound (so "no usable token" is one check), together with the
// token so the caller can log which one was tried; it must not be honoured.
func (s *Store) APITokenByHash(ctx context.Context, hash []byte) (APIToken, error) {
	t, err := scanAPIToken(s.rdb.QueryRowContext(ctx, "SELECT "+apiTokenCols+" FROM api_tokens WHERE hash = ?", hash))
	if err != nil {
		return APIToken{}, fmt.Errorf("store: api token by hash: %w", notFound(err))
	}
	if t.Revoked() {
		return t, fmt.Errorf("store: api token %q: %w", t.Name, ErrAPITokenRevoked)
	}
	return t, nil
}

// APITokens returns every token, live and revoked, oldest first.
func (s *Store) APITokens(ctx context.Context) ([]APIToken, error) {
	return queryRows(ctx, s.rdb, "list api tokens", scanAPIToken, "SELECT "+apiTokenCols+" FROM api_tokens ORDER BY created_at, id")
}

// RevokeAPIToken revokes token id. Revoking a revoked token changes
// nothing (it keeps its first revocation time). ErrNotFound if there is no
// such token. To audit it in the same transaction, use (*Tx).RevokeAPIToken.
func (s *Store) RevokeAPIToken(ctx context.Context, id string) error {
	return s.write(ctx, "revoke api token "+id, func(tx *txn) error {
		return s.revoke(ctx, tx, "api_tokens", id)
	})
}

// revoke sets revoked_at on row id of table (api_tokens or enrollments)
// unless it is set already.
func (s *Store) revoke(ctx context.Context, q querier, table, id string) error {
	res, err := q.ExecContext(ctx, "UPDATE "+table+" SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
		toMS(s.now()), id)
	if err != nil {
		return err
	}
	if err := affected(res); !errors.Is(err, ErrNotFound) {
		return err
	}
	var one int
	return notFound(q.QueryRowContext(ctx, "SELECT 1 FROM "+table+" WHERE id = ?", id).Scan(&one))
}
