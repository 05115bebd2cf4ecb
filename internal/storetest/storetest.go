// Package storetest gives the coordinator's tests their store: a SQLite
// file in the test's data directory, or, with VIGIL_TEST_STORE=postgres, a
// database of its own on the test package's private PostgreSQL (package
// pgtest). The Makefile runs the coordinator's packages once each way.
package storetest

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"github.com/vigil-cc/vigil/coordinator/store"
	"github.com/vigil-cc/vigil/internal/pgtest"
)

var dbs sync.Map // data directory → PostgreSQL URL

// URL is the database URL for data directory dir: "" on SQLite (the file
// dir/vigil.db), or a PostgreSQL database made for dir at the first call
// and the same at later ones, so a coordinator restarted on dir finds its
// data as it would in its file.
func URL(t testing.TB, dir string) string {
	t.Helper()
	if !pgtest.Selected() {
		return ""
	}
	if u, ok := dbs.Load(dir); ok {
		return u.(string)
	}
	u, _ := dbs.LoadOrStore(dir, pgtest.Database(t))
	return u.(string)
}

// Open opens the store for data directory dir (see URL), closed at t's
// cleanup.
func Open(t testing.TB, dir string) *store.Store {
	t.Helper()
	ctx := context.Background()
	var st *store.Store
	var err error
	if u := URL(t, dir); u != "" {
		st, err = store.OpenPostgres(ctx, u)
	} else {
		st, err = store.Open(ctx, filepath.Join(dir, "vigil.db"))
	}
	if err != nil {
		t.Fatalf("opening the store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}
