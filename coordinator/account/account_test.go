package account

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vigil-cc/vigil/internal/storetest"

	"github.com/vigil-cc/vigil/coordinator/store"
	"github.com/vigil-cc/vigil/internal/username"
)

func TestChecks(t *testing.T) {
	for _, tc := range []struct {
		name, role, pw string
		want           string // "" for valid
	}{
		{"alice", "admin", "correct horse", ""},
		{"  Bob ", "Agent", "0123456789", ""},
		{"", "admin", "correct horse", "name must be"},
		{"a b", "admin", "correct horse", "no spaces"},
		{"a:b", "admin", "correct horse", "colons"},
		{strings.Repeat("x", 65), "admin", "correct horse", "1 to 64"},
		{"carol", "integration", "correct horse", "role must be admin, supervisor or agent"},
		{"carol", "supervisor", "short", "password must be 10 to 72"},
		{"carol", "supervisor", strings.Repeat("p", 73), "password must be 10 to 72"},
	} {
		name := username.Fold(tc.name)
		err := errors.Join(CheckName(name), func() error { _, err := ParseRole(tc.role); return err }(), CheckPassword(tc.pw))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q/%q: %v", tc.name, tc.role, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrInvalid)):
			t.Errorf("%q/%q/%q: err = %v, want one naming %q", tc.name, tc.role, tc.pw, err, tc.want)
		}
	}
}

func TestNewAndVerify(t *testing.T) {
	ctx := context.Background()
	st := storetest.Open(t, t.TempDir())
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	a, err := New(ctx, st, now, "cli", " Alice ", "admin", "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if a.Name != "alice" || a.Role != store.RoleAdmin {
		t.Fatalf("New = %+v", a)
	}
	got, err := st.Account(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if !Verify(&got, "correct horse") || Verify(&got, "correct horsE") || Verify(nil, "correct horse") {
		t.Fatal("Verify accepts a wrong password or refuses the right one")
	}
	if _, err := New(ctx, st, now, "cli", "ALICE", "agent", "another password"); !errors.Is(err, store.ErrDuplicate) {
		t.Fatalf("a second alice: %v, want ErrDuplicate", err)
	}
	es, _ := st.AuditEntries(ctx, store.AuditFilter{Kind: "account.created"})
	if len(es) != 1 || es[0].Actor != "cli" || !strings.Contains(string(es[0].Detail), `"role":"admin"`) {
		t.Fatalf("audit = %+v", es)
	}
	p := RandomPassword()
	if len(p) != 24 || CheckPassword(p) != nil || p == RandomPassword() {
		t.Fatalf("RandomPassword = %q", p)
	}
}
