// Package coordtest starts a real coordinator in the test's process: the
// one way tests open or serve one (coordinator, coordinator/web,
// coordinator/api, cmd/vigil-coordinator and the scenario harness in
// internal/e2etest all use it).
package coordtest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-cc/vigil/coordinator"
	"github.com/vigil-cc/vigil/internal/storetest"
)

// Config is a coordinator's configuration for tests: its data in dir, the
// admin API token token (none if empty), the production heartbeat (20 s)
// and grace (45 s), and a log that is discarded unless the tests run with
// -v (then debug level, to stderr). Change what a test needs before Open or
// Start.
func Config(dir, token string) coordinator.Config {
	log := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return coordinator.Config{
		Listen: "127.0.0.1:0", DataDir: dir, AdminToken: token,
		Heartbeat: 20 * time.Second, Grace: 45 * time.Second, Log: log,
	}
}

// Server is a coordinator opened in this process, serving or not.
type Server struct {
	*coordinator.Server
	Dir  string
	Addr string // 127.0.0.1:PORT once serving

	cancel  context.CancelFunc // nil unless serving
	stopped chan error
	once    sync.Once
	done    bool // stopped
	result  error
}

// Open opens a coordinator with cfg without serving it (for its Handler,
// or to check what a start leaves in its data directory), failing t if it
// does not open. Close, or t's cleanup, closes its hub and store.
func Open(t testing.TB, cfg coordinator.Config) *Server {
	t.Helper()
	withStore(t, &cfg)
	srv, err := coordinator.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("opening the coordinator: %v", err)
	}
	s := &Server{Server: srv, Dir: cfg.DataDir}
	t.Cleanup(func() { s.Close() })
	return s
}

// Start opens a coordinator with cfg and serves it on ln (nil: a free
// loopback port); cfg.Listen becomes ln's address. At t's cleanup it is
// stopped, and t fails if it does not stop within 15 s or Serve returned
// an error.
func Start(t testing.TB, cfg coordinator.Config, ln net.Listener) *Server {
	t.Helper()
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	cfg.Listen = ln.Addr().String()
	withStore(t, &cfg)
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := coordinator.Open(ctx, cfg)
	if err != nil {
		cancel()
		ln.Close()
		t.Fatalf("opening the coordinator: %v", err)
	}
	s := &Server{Server: srv, Dir: cfg.DataDir, Addr: cfg.Listen, cancel: cancel, stopped: make(chan error, 1)}
	go func() {
		err := srv.Serve(ctx, ln)
		srv.Store.Close()
		s.stopped <- err
	}()
	t.Cleanup(func() {
		switch done, err := s.Stop(15 * time.Second); {
		case !done:
			t.Error("the coordinator did not stop within 15 s")
		case err != nil:
			t.Errorf("coordinator stopped with: %v", err)
		}
	})
	return s
}

// withStore puts cfg's store on the test package's PostgreSQL when the
// tests run with VIGIL_TEST_STORE=postgres (see package storetest): one
// database per data directory, so a restart on the same directory finds
// its data.
func withStore(t testing.TB, cfg *coordinator.Config) {
	t.Helper()
	if cfg.DatabaseURL == "" {
		cfg.DatabaseURL = storetest.URL(t, cfg.DataDir)
	}
}

// Stop stops a serving coordinator (agents are told 1001 going away) and
// waits until its store is closed, at most within (0: no limit); an opened
// one has its hub and store closed. done is false if it did not stop in
// time; err is what Serve returned. Later calls wait again for a stop that
// was not done, and return the same err once it was.
func (s *Server) Stop(within time.Duration) (done bool, err error) {
	if s.done {
		return true, s.result
	}
	if s.cancel == nil {
		s.once.Do(func() { s.result = s.Server.Close() })
		return true, s.result
	}
	s.cancel()
	var timeout <-chan time.Time
	if within > 0 {
		timeout = time.After(within)
	}
	select {
	case err := <-s.stopped:
		s.done, s.result = true, err
		return true, err
	case <-timeout:
		return false, nil
	}
}

// Close is Stop without a limit; it returns Stop's err.
func (s *Server) Close() error {
	_, err := s.Stop(0)
	return err
}

// Call calls the API at base (http://HOST:PORT) with the bearer token
// (none if empty) and returns the status and body. body is sent as is if
// it is a string, as JSON otherwise (nothing if nil).
func Call(t testing.TB, base, token, method, path string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, base+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

// AdminPassword is the password a first start in dir wrote for the account
// "admin".
func AdminPassword(t testing.TB, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, coordinator.AdminPasswordFile))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}
