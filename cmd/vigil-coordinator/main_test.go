package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-cc/vigil/coordinator/secret"
	"github.com/vigil-cc/vigil/internal/coordtest"
)

// badConfig is a configuration run must refuse, with an error naming want.
type badConfig struct {
	args []string
	env  map[string]string
	want string
}

// refuses checks that run refuses each of cases (given args after the
// case's own).
func refuses(t *testing.T, cases []badConfig, args ...string) {
	t.Helper()
	for _, tc := range cases {
		for k, v := range tc.env {
			t.Setenv(k, v)
		}
		err := run(append(tc.args, args...))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("run(%q, env %v) = %v, want an error naming %q", tc.args, tc.env, err, tc.want)
		}
		for k := range tc.env {
			os.Unsetenv(k)
		}
	}
}

func TestInvalidConfigurationStopsWithAMessage(t *testing.T) {
	refuses(t, []badConfig{
		{[]string{"--listen", "nowhere"}, nil, "--listen must be host:port"},
		{nil, map[string]string{"VIGIL_LISTEN": "nowhere"}, "--listen must be host:port"},
		{[]string{"--tls-cert", "c.pem"}, nil, "--tls-cert and --tls-key go together"},
		{[]string{"--heartbeat", "1s"}, nil, "--heartbeat must be from 5s to 300s"},
		{[]string{"--grace", "10s"}, nil, "--grace (10s) must be longer than --heartbeat (20s)"},
		{nil, map[string]string{"VIGIL_HEARTBEAT": "often"}, "VIGIL_HEARTBEAT"},
		{[]string{"--log-level", "loud"}, nil, "--log-level"},
		{[]string{"--data-dir", ""}, nil, "--data-dir must name a directory"},
	})
}

func TestFlagBeatsEnvironment(t *testing.T) {
	t.Setenv("VIGIL_LISTEN", "nowhere")
	err := run([]string{"--listen", "127.0.0.1:1", "--heartbeat", "1s"})
	if err == nil || !strings.Contains(err.Error(), "--heartbeat") {
		t.Errorf("the --listen flag did not win over VIGIL_LISTEN: %v", err)
	}
}

func TestFirstStartMakesTokensOnce(t *testing.T) {
	dir := t.TempDir()
	open := func() { coordtest.Open(t, coordtest.Config(dir, "")).Close() }
	open()
	read := func(name string) string {
		t.Helper()
		path := filepath.Join(dir, name)
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatalf("first start wrote no %s: %v", name, err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", name, fi.Mode().Perm())
		}
		b, _ := os.ReadFile(path)
		return strings.TrimSpace(string(b))
	}
	admin, enroll := read("admin.token"), read("enrollment.token")
	if !strings.HasPrefix(admin, secret.PrefixAPI) || !strings.HasPrefix(enroll, secret.PrefixEnrollment) {
		t.Errorf("tokens %q, %q lack their prefixes", admin, enroll)
	}
	open() // a second start keeps them
	if read("admin.token") != admin || read("enrollment.token") != enroll {
		t.Error("a second start replaced the tokens")
	}
}

func TestConfiguredAdminTokenCanBeReplaced(t *testing.T) {
	dir := t.TempDir()
	for _, token := range []string{"vgl_api_first-configured-admin-token-0001", "vgl_api_second-configured-admin-token-002", "vgl_api_first-configured-admin-token-0001"} {
		t.Run("starting with admin token "+token, func(t *testing.T) {
			if err := coordtest.Open(t, coordtest.Config(dir, token)).Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
