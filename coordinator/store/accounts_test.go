package store

import (
	"bytes"
	"context"
	"testing"
	"time"
)

func TestAccounts(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()

	ok, err := s.HasAdminAccount(ctx)
	must(t, err)
	if ok {
		t.Fatal("a fresh store has an admin account")
	}
	admin := Account{Name: "alice", Role: RoleAdmin, PasswordHash: []byte("$2a$10$hash")}
	must(t, s.CreateAccount(ctx, admin, entry("account.created", "")))
	must(t, s.CreateAccount(ctx, Account{Name: "bob", Role: RoleAgent, PasswordHash: []byte("h")}, entry("account.created", "")))
	ok, err = s.HasAdminAccount(ctx)
	must(t, err)
	if !ok {
		t.Fatal("HasAdminAccount = false after creating one")
	}

	got, err := s.Account(ctx, "alice")
	must(t, err)
	if got.Name != "alice" || got.Role != RoleAdmin || !bytes.Equal(got.PasswordHash, admin.PasswordHash) ||
		!got.CreatedAt.Equal(t0) || got.Disabled() {
		t.Fatalf("Account = %+v", got)
	}
	_, err = s.Account(ctx, "nobody")
	wantErr(t, err, ErrNotFound)
	list, err := s.Accounts(ctx)
	must(t, err)
	if len(list) != 2 || list[0].Name != "alice" || list[1].Role != RoleAgent {
		t.Fatalf("Accounts = %+v", list)
	}

	wantErr(t, s.CreateAccount(ctx, Account{Name: "alice", Role: RoleSupervisor, PasswordHash: []byte("h")}, entry("account.created", "")), ErrDuplicate)
	wantErr(t, s.CreateAccount(ctx, Account{Name: "x", Role: RoleIntegration, PasswordHash: []byte("h")}, entry("account.created", "")), ErrInvalid)
	wantErr(t, s.CreateAccount(ctx, Account{Name: "", Role: RoleAdmin, PasswordHash: []byte("h")}, entry("account.created", "")), ErrInvalid)
	wantErr(t, s.CreateAccount(ctx, Account{Name: "y", Role: RoleAdmin}, entry("account.created", "")), ErrInvalid)
	// The audit entry commits with the account, or neither does.
	wantErr(t, s.CreateAccount(ctx, Account{Name: "z", Role: RoleAdmin, PasswordHash: []byte("h")}, AuditEntry{Kind: "account.created"}), ErrInvalid)
	_, err = s.Account(ctx, "z")
	wantErr(t, err, ErrNotFound)
	es, err := s.AuditEntries(ctx, AuditFilter{Kind: "account.created"})
	must(t, err)
	if len(es) != 2 {
		t.Fatalf("%d account.created entries, want 2", len(es))
	}
}

func TestWebSessions(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	must(t, s.CreateAccount(ctx, Account{Name: "alice", Role: RoleAdmin, PasswordHash: []byte("h")}, entry("account.created", "")))

	ws := WebSession{IDHash: []byte("sess-1"), Account: "alice", CSRF: "csrf-1", ExpiresAt: t0.Add(time.Hour)}
	must(t, s.CreateWebSession(ctx, ws))
	wantErr(t, s.CreateWebSession(ctx, ws), ErrDuplicate)
	wantErr(t, s.CreateWebSession(ctx, WebSession{IDHash: []byte("x"), Account: "alice", ExpiresAt: t0.Add(time.Hour)}), ErrInvalid)
	// Sessions belong to accounts that exist.
	if err := s.CreateWebSession(ctx, WebSession{IDHash: []byte("y"), Account: "nobody", CSRF: "c", ExpiresAt: t0.Add(time.Hour)}); err == nil {
		t.Fatal("a session for an unknown account was stored")
	}

	got, acct, err := s.WebSession(ctx, []byte("sess-1"), t0.Add(59*time.Minute))
	must(t, err)
	if got.Account != "alice" || got.CSRF != "csrf-1" || !got.CreatedAt.Equal(t0) || !got.ExpiresAt.Equal(t0.Add(time.Hour)) || acct.Role != RoleAdmin {
		t.Fatalf("WebSession = %+v, %+v", got, acct)
	}
	_, _, err = s.WebSession(ctx, []byte("sess-1"), t0.Add(time.Hour))
	wantErr(t, err, ErrNotFound) // expired
	_, _, err = s.WebSession(ctx, []byte("nope"), t0)
	wantErr(t, err, ErrNotFound)

	must(t, s.CreateWebSession(ctx, WebSession{IDHash: []byte("sess-2"), Account: "alice", CSRF: "c2", ExpiresAt: t0.Add(2 * time.Hour)}))
	n, err := s.PruneWebSessions(ctx, t0.Add(time.Hour))
	must(t, err)
	if n != 1 {
		t.Fatalf("PruneWebSessions removed %d, want 1", n)
	}
	must(t, s.DeleteWebSession(ctx, []byte("sess-2")))
	wantErr(t, s.DeleteWebSession(ctx, []byte("sess-2")), ErrNotFound)
}
