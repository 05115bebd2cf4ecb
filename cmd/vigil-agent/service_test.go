package main

import (
	"os"
	"path/filepath"
	"testing"
)

// The config install writes is private and reads back as the service's
// flags.
func TestServiceConfigRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "etc")
	fs := newFlagSet("install", "")
	var cfg serviceConfig
	cfg.flags(fs)
	env := map[string]string{"VIGIL_ENROLL_TOKEN": "vgl_enr_x y", "HOME": t.TempDir()}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	if err := parseFlags(fs, []string{"--coordinator", "https://vigil.example.com", "--mic=false", "--state-dir", "/var/lib/vigil"}, lookup); err != nil {
		t.Fatal(err)
	}
	if err := cfg.check(lookup); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "agent.conf")
	if err := writeServiceConfig(path, cfg); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode: %v %v", fi, err)
	}
	fs2 := newFlagSet("service", "")
	var got serviceConfig
	got.flags(fs2)
	if err := parseFlags(fs2, []string{"--config", path}, func(string) (string, bool) { return "", false }); err != nil {
		t.Fatal(err)
	}
	if got.coordinator != "https://vigil.example.com" || got.enrollToken != "vgl_enr_x y" || got.mic || got.socket != defaultSocket || got.stateDir != "/var/lib/vigil" {
		t.Errorf("read back %+v", got)
	}
}
