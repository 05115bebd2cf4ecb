// Package pgtest starts a private PostgreSQL server for a test package:
// its own data directory under the system temp directory, its own loopback
// port and socket directory, never a system server. One server serves a
// whole test package (start it lazily through Shared, stop it in TestMain
// through Main); each test gets its own database (NewDatabase), so tests
// never share state.
//
// It runs Debian's PostgreSQL binaries (/usr/lib/postgresql/N/bin, the
// `postgresql` package, which scripts/deps.sh installs). initdb refuses to
// run as root: as root the server runs as the `postgres` user the package
// creates.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Server is a running private PostgreSQL.
type Server struct {
	Dir  string // data, socket and log, removed by Stop
	Port int
	cmd  *exec.Cmd
	done chan error
	n    atomic.Int64
}

// Start initializes a new cluster in a fresh directory and starts it on a
// free loopback port. Durability is off (fsync, synchronous_commit): a
// test server's data dies with it anyway.
func Start(ctx context.Context) (*Server, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "vigil-pgtest-")
	if err != nil {
		return nil, err
	}
	cred, err := credential(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	data := filepath.Join(dir, "data")
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", data, "-A", "trust", "-U", "vigil",
		"-E", "UTF8", "--no-sync", "--no-instructions")
	initdb.SysProcAttr = procAttr(cred, false)
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("pgtest: initdb: %v\n%s", err, out)
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "log"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-k", dir, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
		"-c", "full_page_writes=off", "-c", "max_connections=300", "-c", "shared_buffers=32MB")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = procAttr(cred, true)
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("pgtest: starting postgres: %w", err)
	}
	s := &Server{Dir: dir, Port: port, cmd: cmd, done: make(chan error, 1)}
	go func() { s.done <- cmd.Wait() }()
	if err := s.waitReady(ctx, 30*time.Second); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// URL is the server's URL for database db.
func (s *Server) URL(db string) string {
	return fmt.Sprintf("postgres://vigil@127.0.0.1:%d/%s?sslmode=disable", s.Port, db)
}

// CreateDatabase creates a new empty database and returns its URL.
func (s *Server) CreateDatabase(ctx context.Context) (string, error) {
	name := fmt.Sprintf("t%d_%d", os.Getpid(), s.n.Add(1))
	c, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		return "", fmt.Errorf("pgtest: connecting: %w", err)
	}
	defer c.Close(context.Background())
	if _, err := c.Exec(ctx, "CREATE DATABASE "+name+" STRATEGY FILE_COPY"); err != nil {
		return "", fmt.Errorf("pgtest: create database %s: %w", name, err)
	}
	return s.URL(name), nil
}

// NewDatabase is CreateDatabase failing t.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	u, err := s.CreateDatabase(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// Stop shuts the server down (fast: open sessions are ended) and removes
// its directory.
func (s *Server) Stop() error {
	_ = s.cmd.Process.Signal(os.Interrupt)
	var err error
	select {
	case err = <-s.done:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		err = <-s.done
	}
	os.RemoveAll(s.Dir)
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return nil // ended by our signal
	}
	return err
}

func (s *Server) waitReady(ctx context.Context, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		c, err := pgx.Connect(ctx, s.URL("postgres"))
		if err == nil {
			c.Close(ctx)
			return nil
		}
		select {
		case exit := <-s.done:
			s.done <- exit
			log, _ := os.ReadFile(filepath.Join(s.Dir, "log"))
			return fmt.Errorf("pgtest: postgres exited: %v\n%s", exit, log)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pgtest: postgres not accepting connections after %v: %w", within, err)
		}
	}
}

// binDir is the newest /usr/lib/postgresql/N/bin with initdb.
func binDir() (string, error) {
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(found) == 0 {
		return "", errors.New("pgtest: no /usr/lib/postgresql/*/bin/initdb: install Debian's postgresql package (scripts/deps.sh does)")
	}
	sort.Slice(found, func(i, j int) bool {
		vi, _ := strconv.Atoi(strings.Split(found[i], "/")[4])
		vj, _ := strconv.Atoi(strings.Split(found[j], "/")[4])
		return vi < vj
	})
	return filepath.Dir(found[len(found)-1]), nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

var shared struct {
	once sync.Once
	srv  *Server
	err  error
}

// Shared is the test package's server, started at the first call. Stop it
// at the end with Main (or it dies with the test process).
func Shared() (*Server, error) {
	shared.once.Do(func() { shared.srv, shared.err = Start(context.Background()) })
	return shared.srv, shared.err
}

// Database is a new database on the package's shared server, failing t if
// there is none.
func Database(t testing.TB) string {
	t.Helper()
	s, err := Shared()
	if err != nil {
		t.Fatal(err)
	}
	return s.NewDatabase(t)
}

// Main runs the package's tests, then stops the shared server if one was
// started; call it from TestMain: os.Exit(pgtest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	if shared.srv != nil {
		if err := shared.srv.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest: stopping postgres:", err)
		}
	}
	return code
}

// Env is the variable that puts the coordinator's tests on PostgreSQL:
// VIGIL_TEST_STORE=postgres (the Makefile's second run of the coordinator
// packages); unset or "sqlite", they use SQLite files.
const Env = "VIGIL_TEST_STORE"

// Selected reports whether the tests run on PostgreSQL (see Env).
func Selected() bool { return os.Getenv(Env) == "postgres" }

// M wraps m so that its Run stops the shared server after the tests, for
// a TestMain that hands m to something else (goleak.VerifyTestMain).
func M(m *testing.M) interface{ Run() int } { return mainM{m} }

type mainM struct{ m *testing.M }

func (w mainM) Run() int { return Main(w.m) }
