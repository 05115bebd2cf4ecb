package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/vigil-cc/vigil/coordinator/account"
	"github.com/vigil-cc/vigil/coordinator/store"
	"github.com/vigil-cc/vigil/internal/storetest"
)

func TestAccountAdd(t *testing.T) {
	dir := t.TempDir()
	if u := storetest.URL(t, dir); u != "" {
		t.Setenv("VIGIL_DATABASE_URL", u)
	}
	var out bytes.Buffer
	// The password from standard input.
	if err := runAccount([]string{"add", "--name", "Alice", "--role", "supervisor", "--data-dir", dir},
		strings.NewReader("correct horse battery\n"), &out); err != nil {
		t.Fatal(err)
	}
	if out.String() != "created account alice (supervisor)\n" {
		t.Errorf("output %q", out.String())
	}
	// The password from VIGIL_PASSWORD, the directory from VIGIL_DATA_DIR.
	t.Setenv("VIGIL_PASSWORD", "another good one")
	t.Setenv("VIGIL_DATA_DIR", dir)
	if err := run([]string{"account", "add", "--name", "bob", "--role", "agent"}); err != nil {
		t.Fatal(err)
	}

	st := storetest.Open(t, dir)
	for name, pw := range map[string]string{"alice": "correct horse battery", "bob": "another good one"} {
		a, err := st.Account(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		if !account.Verify(&a, pw) {
			t.Errorf("%s's password does not verify", name)
		}
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"add", "--name", "bob", "--role", "agent"}, `an account named "bob" exists already`},
		{[]string{"add", "--name", "carol", "--role", "root"}, "role must be admin, supervisor or agent"},
		{[]string{"add", "--name", "carol"}, "--name and --role are required"},
		{[]string{"remove"}, "usage: vigil-coordinator account add"},
		{[]string{"disable"}, "--name is required"},
	} {
		err := runAccount(tc.args, strings.NewReader(""), &out)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error naming %q", tc.args, err, tc.want)
		}
	}
	t.Setenv("VIGIL_PASSWORD", "short")
	if err := runAccount([]string{"add", "--name", "dave", "--role", "agent"}, nil, &out); err == nil || !strings.Contains(err.Error(), "password must be 10 to 72") {
		t.Errorf("a short password: %v", err)
	}
}

func TestAccountPasswdDisableEnable(t *testing.T) {
	dir := t.TempDir()
	if u := storetest.URL(t, dir); u != "" {
		t.Setenv("VIGIL_DATABASE_URL", u)
	}
	var out bytes.Buffer
	t.Setenv("VIGIL_PASSWORD", "first password")
	for _, args := range [][]string{
		{"add", "--name", "root", "--role", "admin", "--data-dir", dir},
		{"add", "--name", "sue", "--role", "supervisor", "--data-dir", dir},
	} {
		if err := runAccount(args, nil, &out); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("VIGIL_PASSWORD", "second password")
	if err := runAccount([]string{"passwd", "--name", "SUE", "--data-dir", dir}, nil, &out); err != nil {
		t.Fatal(err)
	}
	if err := runAccount([]string{"disable", "--name", "sue", "--data-dir", dir}, nil, &out); err != nil {
		t.Fatal(err)
	}
	err := runAccount([]string{"disable", "--name", "root", "--data-dir", dir}, nil, &out)
	if err == nil || !strings.Contains(err.Error(), "last admin") {
		t.Errorf("disabling the last admin: %v", err)
	}
	if err := runAccount([]string{"passwd", "--name", "nobody", "--data-dir", dir}, nil, &out); err == nil || !strings.Contains(err.Error(), `no account named "nobody"`) {
		t.Errorf("passwd of nobody: %v", err)
	}
	st := storetest.Open(t, dir)
	sue, err := st.Account(context.Background(), "sue")
	if err != nil {
		t.Fatal(err)
	}
	if !sue.Disabled() || !bcryptOK(sue, "second password") {
		t.Errorf("sue: disabled %v, new password set %v", sue.Disabled(), bcryptOK(sue, "second password"))
	}
	if err := runAccount([]string{"enable", "--name", "sue", "--data-dir", dir}, nil, &out); err != nil {
		t.Fatal(err)
	}
	if sue, _ := st.Account(context.Background(), "sue"); sue.Disabled() || !account.Verify(&sue, "second password") {
		t.Error("sue is not enabled again with her new password")
	}
}

func bcryptOK(a store.Account, pw string) bool {
	a.DisabledAt = time.Time{} // Verify refuses a disabled account
	return account.Verify(&a, pw)
}
