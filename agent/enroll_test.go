package agent

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestDeviceFile(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "state", "vigil")
	if _, err := LoadDevice(dir); !errors.Is(err, ErrNotEnrolled) {
		t.Fatalf("empty state dir: %v, want ErrNotEnrolled", err)
	}
	d := Device{Coordinator: "https://vigil.example.com", ID: "d1", Token: "vgl_dev_secret", Status: "approved", EnrolledAt: time.Unix(1, 0).UTC()}
	if err := SaveDevice(dir, d); err != nil {
		t.Fatal(err)
	}
	got, err := LoadDevice(dir)
	if err != nil || got != d {
		t.Fatalf("LoadDevice = %+v %v, want %+v", got, err, d)
	}
	if runtime.GOOS != "windows" {
		for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, DeviceFile): 0o600} {
			fi, err := os.Stat(path)
			if err != nil || fi.Mode().Perm() != want {
				t.Errorf("%s: mode %v %v, want %v", path, fi.Mode().Perm(), err, want)
			}
		}
		// Made readable by others: made private again on load.
		if err := os.Chmod(filepath.Join(dir, DeviceFile), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadDevice(dir); err != nil {
			t.Fatal(err)
		}
		if fi, _ := os.Stat(filepath.Join(dir, DeviceFile)); fi.Mode().Perm() != 0o600 {
			t.Errorf("mode after load %v, want 0600", fi.Mode().Perm())
		}
	}
	// Replaced atomically; no temporary files left.
	d.Token = "vgl_dev_new"
	if err := SaveDevice(dir, d); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("state dir holds %d entries, want 1", len(ents))
	}
	if got, _ := LoadDevice(dir); got.Token != "vgl_dev_new" {
		t.Errorf("token after replace %q", got.Token)
	}
	if err := os.WriteFile(filepath.Join(dir, DeviceFile), []byte(`{"device_id":"x"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadDevice(dir); err == nil || !strings.Contains(err.Error(), "no device token") {
		t.Errorf("a file without a token: %v", err)
	}
}

func TestDefaultStateDir(t *testing.T) {
	env := func(kv ...string) func(string) (string, bool) {
		return func(k string) (string, bool) {
			for i := 0; i < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1], true
				}
			}
			return "", false
		}
	}
	if runtime.GOOS == "windows" {
		t.Skip("XDG paths")
	}
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{[]string{"XDG_STATE_HOME", "/x/state", "HOME", "/home/jane"}, "/x/state/vigil"},
		{[]string{"XDG_STATE_HOME", "relative", "HOME", "/home/jane"}, "/home/jane/.local/state/vigil"},
		{[]string{"HOME", "/home/jane"}, "/home/jane/.local/state/vigil"},
	} {
		got, err := DefaultStateDir(env(tc.env...))
		if err != nil || got != tc.want {
			t.Errorf("%q: %q %v, want %q", tc.env, got, err, tc.want)
		}
	}
}

func TestEnroll(t *testing.T) {
	t.Parallel()
	var body map[string]string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/prefix/api/v1/enroll" {
			http.NotFound(w, r)
			return
		}
		b, _ := io.ReadAll(r.Body)
		json.Unmarshal(b, &body)
		if body["enrollment_token"] != "vgl_enr_good" {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":"enrollment token has no uses left: ask your admin for a new one"}`)
			return
		}
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"device_id":"d9","device_token":"vgl_dev_9","status":"pending"}`)
	}))
	defer srv.Close()
	e, err := ParseEndpoint(srv.URL+"/prefix", false, "")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	d, err := Enroll(context.Background(), e, " vgl_enr_good\n", "ws-7", "linux", now)
	if err != nil {
		t.Fatal(err)
	}
	want := Device{Coordinator: srv.URL + "/prefix", ID: "d9", Token: "vgl_dev_9", Status: "pending", EnrolledAt: now}
	if d != want {
		t.Errorf("Enroll = %+v, want %+v", d, want)
	}
	if body["host"] != "ws-7" || body["os"] != "linux" || body["enrollment_token"] != "vgl_enr_good" || len(body) != 3 {
		t.Errorf("request body %v", body)
	}
	if _, err := Enroll(context.Background(), e, "vgl_enr_used", "ws-7", "linux", now); err == nil || !strings.Contains(err.Error(), "no uses left") {
		t.Errorf("refused enrollment: %v, want the coordinator's reason", err)
	}
	if _, err := Enroll(context.Background(), e, "  ", "ws-7", "linux", now); err == nil {
		t.Error("an empty enrollment token was sent")
	}
}
