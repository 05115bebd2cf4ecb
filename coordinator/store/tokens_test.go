package store

import (
	"bytes"
	"context"
	"testing"
	"time"
)

func TestAPITokens(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	a := APIToken{ID: NewID(), Name: "ops", Role: RoleAdmin, Hash: []byte("hash-a"), CreatedAt: t0.Add(123456 * time.Microsecond)}
	must(t, s.CreateAPIToken(ctx, a))
	b := APIToken{Name: "crm", Role: RoleIntegration, Hash: []byte("hash-b")} // ID and time from the store
	must(t, s.CreateAPIToken(ctx, b))

	got, err := s.APITokenByHash(ctx, []byte("hash-a"))
	must(t, err)
	a.CreatedAt = a.CreatedAt.Truncate(time.Millisecond)
	if got.ID != a.ID || got.Name != a.Name || got.Role != a.Role || !bytes.Equal(got.Hash, a.Hash) ||
		!got.CreatedAt.Equal(a.CreatedAt) || got.CreatedAt.Location() != time.UTC || got.Revoked() {
		t.Fatalf("APITokenByHash = %+v, want %+v", got, a)
	}
	_, err = s.APITokenByHash(ctx, []byte("nope"))
	wantErr(t, err, ErrNotFound)

	list, err := s.APITokens(ctx)
	must(t, err)
	if len(list) != 2 || list[0].Name != "crm" || list[0].ID == "" || !list[0].CreatedAt.Equal(t0) || list[1].Name != "ops" {
		t.Fatalf("APITokens = %+v", list)
	}

	// A live name and a hash are unique.
	wantErr(t, s.CreateAPIToken(ctx, APIToken{Name: "ops", Role: RoleSupervisor, Hash: []byte("hash-c")}), ErrDuplicate)
	wantErr(t, s.CreateAPIToken(ctx, APIToken{Name: "other", Role: RoleSupervisor, Hash: []byte("hash-a")}), ErrDuplicate)
	wantErr(t, s.CreateAPIToken(ctx, APIToken{Name: "x", Role: "root", Hash: []byte("h")}), ErrInvalid)
	wantErr(t, s.CreateAPIToken(ctx, APIToken{Name: "", Role: RoleAdmin, Hash: []byte("h")}), ErrInvalid)
	wantErr(t, s.CreateAPIToken(ctx, APIToken{Name: "x", Role: RoleAdmin}), ErrInvalid)

	// Revoked: refused, but named; revoking again changes nothing.
	must(t, s.RevokeAPIToken(ctx, a.ID))
	s.now = func() time.Time { return t0.Add(time.Hour) }
	must(t, s.RevokeAPIToken(ctx, a.ID))
	got, err = s.APITokenByHash(ctx, []byte("hash-a"))
	wantErr(t, err, ErrAPITokenRevoked)
	wantErr(t, err, ErrNotFound)
	if got.Name != "ops" || !got.RevokedAt.Equal(t0) {
		t.Fatalf("revoked token = %+v, want ops revoked at %v", got, t0)
	}
	wantErr(t, s.RevokeAPIToken(ctx, "no-such-id"), ErrNotFound)
	// The name is free again once its token is revoked.
	must(t, s.CreateAPIToken(ctx, APIToken{Name: "ops", Role: RoleAdmin, Hash: []byte("hash-d")}))
}

func TestTxTokensWithAudit(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	tok := APIToken{ID: NewID(), Name: "ops", Role: RoleAdmin, Hash: []byte("h")}
	must(t, s.Tx(ctx, func(tx *Tx) error {
		if err := tx.CreateAPIToken(ctx, tok); err != nil {
			return err
		}
		_, err := tx.Audit(ctx, entry("token.created", ""))
		return err
	}))
	// A failed audit takes the revocation with it.
	err := s.Tx(ctx, func(tx *Tx) error {
		if err := tx.RevokeAPIToken(ctx, tok.ID); err != nil {
			return err
		}
		_, err := tx.Audit(ctx, AuditEntry{Kind: "token.revoked"}) // no actor
		return err
	})
	wantErr(t, err, ErrInvalid)
	if _, err := s.APITokenByHash(ctx, []byte("h")); err != nil {
		t.Fatalf("token revoked although its audit failed: %v", err)
	}
}
