package coordinator

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vigil-cc/vigil/coordinator/account"
	"github.com/vigil-cc/vigil/coordinator/store"
)

// AdminPasswordFile is where the first start leaves the web account
// "admin"'s password, mode 0600, in the data directory.
const AdminPasswordFile = "admin.password"

// bootstrapAccount makes sure someone can sign in to the web pages: unless
// an admin account exists, it makes the account "admin" with a random
// password and writes the password 0600 to the data directory. It writes
// the file first, so a crash in between leaves a password that works on
// the next try rather than an account nobody can use.
func bootstrapAccount(ctx context.Context, cfg Config, st *store.Store) error {
	ok, err := st.HasAdminAccount(ctx)
	if err != nil || ok {
		return err
	}
	pw := account.RandomPassword()
	path := filepath.Join(cfg.DataDir, AdminPasswordFile)
	if err := os.WriteFile(path, []byte(pw+"\n"), 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	// WriteFile keeps the mode of a file that exists; make sure.
	if err := os.Chmod(path, 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	_, err = account.New(ctx, st, cfg.Now(), "system", "admin", string(store.RoleAdmin), pw)
	if errors.Is(err, store.ErrDuplicate) {
		os.Remove(path)
		cfg.Log.Warn("there is no admin account, and the name admin is taken by a supervisor or agent account: " +
			"make an admin with `vigil-coordinator account add --role admin`")
		return nil
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("creating the first admin account: %w", err)
	}
	cfg.Log.Info("first start: made the web account admin", "password_file", path)
	return nil
}
