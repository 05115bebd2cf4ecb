package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseSessionFlags(t *testing.T) {
	home := t.TempDir()
	cfg, err := parseSessionFlags([]string{"--coordinator", "https://vigil.example.com"}, env("HOME", home, "DISPLAY", ":4"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.endpoint.WebSocketURL() != "wss://vigil.example.com/agent/v1/ws" || cfg.stateDir != filepath.Join(home, ".local/state/vigil") ||
		cfg.sessionID != "display:4" || !cfg.mic || !cfg.notify || cfg.poll != 250*time.Millisecond || cfg.level.String() != "INFO" {
		t.Errorf("defaults: %+v", cfg)
	}

	// A config file, below the environment, below the command line.
	conf := filepath.Join(t.TempDir(), "agent.conf")
	if err := os.WriteFile(conf, []byte(`# the floor's agents
coordinator = https://from-file.example.com
mic-device = "USB Headset"
state-dir = /var/lib/vigil
log-level = debug

poll-interval = 100ms
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err = parseSessionFlags([]string{"--config", conf, "--log-level", "warn"},
		env("HOME", home, "XDG_SESSION_ID", "7", "VIGIL_STATE_DIR", "/srv/vigil", "VIGIL_MIC", "false"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.endpoint.String() != "https://from-file.example.com" || cfg.micDevice != "USB Headset" || cfg.stateDir != "/srv/vigil" ||
		cfg.level.String() != "WARN" || cfg.poll != 100*time.Millisecond || cfg.mic || cfg.sessionID != "xdg:7" {
		t.Errorf("file + env + flags: %+v", cfg)
	}
	// The session id the Windows service gives its helper (neither
	// XDG_SESSION_ID nor DISPLAY there).
	cfg, err = parseSessionFlags([]string{"--coordinator", "unix:///C:/ProgramData/Vigil/agent.sock", "--session-id", "wts-3", "--mic=false"}, env("HOME", home))
	if err != nil || cfg.sessionID != "wts-3" || !cfg.endpoint.Local() {
		t.Errorf("--session-id: %+v %v", cfg, err)
	}
	// The config file named in the environment.
	cfg, err = parseSessionFlags(nil, env("HOME", home, "DISPLAY", ":1", "VIGIL_CONFIG", conf))
	if err != nil || cfg.endpoint.String() != "https://from-file.example.com" {
		t.Errorf("VIGIL_CONFIG: %+v %v", cfg, err)
	}

	bad := func(content string) string {
		p := filepath.Join(t.TempDir(), "bad.conf")
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		args []string
		env  []string
		want string
	}{
		{args: nil, want: "--coordinator is required"},
		{args: []string{"--coordinator", "ws://10.0.0.5:8080"}, want: "refusing plain ws://"},
		{args: []string{"--coordinator", "https://x", "--poll-interval", "1s"}, want: "--poll-interval"},
		{args: []string{"--coordinator", "https://x", "--log-level", "loud"}, want: "--log-level"},
		{args: []string{"--coordinator", "https://x", "--session-id", "a b"}, want: "--session-id"},
		{args: []string{"--coordinator", "https://x"}, env: []string{"HOME", "/h"}, want: "XDG_SESSION_ID nor DISPLAY"},
		{args: []string{"--config", bad("colour = blue\n")}, want: `unknown setting "colour"`},
		{args: []string{"--config", bad("coordinator\n")}, want: "line 1: want key = value"},
		{args: []string{"--config", bad("mic = maybe\n")}, want: "mic = \"maybe\""},
		{args: []string{"--config", bad("mic = true\nmic = false\n")}, want: "already set on line 1"},
		{args: []string{"--config", bad("config = x\n")}, want: `unknown setting "config"`},
		{args: []string{"--config", "/no/such/file"}, want: "reading the config file"},
	} {
		e := tc.env
		if e == nil {
			e = []string{"HOME", "/h", "DISPLAY", ":0"}
		}
		_, err := parseSessionFlags(tc.args, env(e...))
		var ue usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("args %q: error %v, want a usage error mentioning %q", tc.args, err, tc.want)
		}
	}
}

func TestParseConfig(t *testing.T) {
	got, err := parseConfig([]byte("  # c\n\n--coordinator=https://x\nmic-device = \"A \\\"B\\\"\"  \nnotify=false\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := [][2]string{{"coordinator", "https://x"}, {"mic-device", `A "B"`}, {"notify", "false"}}
	if len(got) != len(want) {
		t.Fatalf("%q", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("setting %d = %q, want %q", i, got[i], want[i])
		}
	}
	if _, err := parseConfig([]byte("x = \"unterminated\n")); err == nil {
		t.Error("a bad quoted value is accepted")
	}
}
