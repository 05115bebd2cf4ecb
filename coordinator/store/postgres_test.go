package store

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/vigil-cc/vigil/internal/pgtest"
)

func postgresOnly(t testing.TB) {
	t.Helper()
	if !pgtest.Selected() {
		t.Skip("PostgreSQL only (VIGIL_TEST_STORE=postgres)")
	}
}

// Replicas starting together on a new database migrate it once.
func TestPostgresConcurrentMigrations(t *testing.T) {
	postgresOnly(t)
	u := pgtest.Database(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := OpenPostgres(ctx, u)
			if err == nil {
				s.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("open %d: %v", i, err)
		}
	}
	s := openAt(t, u)
	var n int
	must(t, s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_version").Scan(&n))
	if n != latestMigration(t) {
		t.Fatalf("%d schema_version rows, want %d", n, latestMigration(t))
	}
}

// A bad URL is refused with what to fix, and the password never shows.
func TestOpenPostgresErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := OpenPostgres(ctx, "mysql://x"); err == nil || !strings.Contains(err.Error(), "postgres://") {
		t.Errorf("mysql URL: %v", err)
	}
	_, err := OpenPostgres(ctx, "postgres://vigil:s3cret-pw@127.0.0.1:1/x?sslmode=disable&connect_timeout=2")
	if err == nil || strings.Contains(err.Error(), "s3cret-pw") || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("unreachable server: %v", err)
	}
}

func latestMigration(t testing.TB) int {
	migs, err := loadMigrations(postgresMigrations, "migrations/postgres")
	must(t, err)
	return len(migs)
}

// Each dialect has the same migration numbers and names, so a version means
// the same schema on both.
func TestMigrationsMatchAcrossDialects(t *testing.T) {
	lite, err := loadMigrations(sqliteMigrations, "migrations/sqlite")
	must(t, err)
	pg, err := loadMigrations(postgresMigrations, "migrations/postgres")
	must(t, err)
	if len(lite) != len(pg) {
		t.Fatalf("%d SQLite migrations, %d PostgreSQL ones", len(lite), len(pg))
	}
	for i := range lite {
		if lite[i].name != pg[i].name {
			t.Errorf("migration %d: %s on SQLite, %s on PostgreSQL", i+1, lite[i].name, pg[i].name)
		}
	}
}
