package installer

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-cc/vigil/internal/coordtest"
	"github.com/vigil-cc/vigil/internal/testrig"
)

const (
	coordDefaults = "/etc/default/vigil-coordinator"
	coordInit     = "/etc/init.d/vigil-coordinator"
	coordBin      = "/usr/bin/vigil-coordinator"
	coordData     = "/var/lib/vigil"
)

// The coordinator .deb: its settings pre-seeded (as configuration
// management would, kept with --force-confold), installed, started on
// SysV here as user vigil with /var/lib/vigil 0700, answering /healthz;
// remove stops it and keeps the data; purge removes the data and leaves
// nothing of the package behind.
func TestDebCoordinatorInstallStartsPurges(t *testing.T) {
	a := linuxPackages(t)
	guardSystem(t, "vigil-coordinator", coordDefaults, coordInit, coordData, "/run/vigil-coordinator.pid")
	purgeOnCleanup(t, "vigil-coordinator")
	before := snapshot(t)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	seed := fmt.Sprintf("VIGIL_LISTEN=%s\nVIGIL_DATA_DIR=%s\n", addr, coordData)
	if err := os.WriteFile(coordDefaults, []byte(seed), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(coordDefaults) })

	out := must(t, pkgEnv(), "dpkg", "-i", "--force-confdef", "--force-confold", a.coordDeb)
	t.Logf("dpkg -i:\n%s", out)
	if !strings.Contains(out, "using the SysV init script") {
		t.Errorf("dpkg -i does not say it fell back to SysV")
	}
	if st := dpkgStatus("vigil-coordinator"); st != "ii 1.0.0-1" {
		t.Errorf("dpkg status %q", st)
	}
	if b, _ := os.ReadFile(coordDefaults); string(b) != seed {
		t.Errorf("the pre-seeded settings were replaced:\n%s", b)
	}
	healthz := func() (bool, string) {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	}
	testrig.Eventually(t, 30*time.Second, healthz)
	if _, err := exec.LookPath("systemd-analyze"); err == nil {
		unit := "/usr/lib/systemd/system/vigil-coordinator.service"
		if out, err := runOut(pkgEnv(), "systemd-analyze", "verify", "--man=no", unit); err != nil || strings.Contains(out, "vigil-coordinator.service") {
			t.Errorf("systemd-analyze verify %s: %v\n%s", unit, err, out)
		}
	}

	vigil, err := user.Lookup("vigil")
	if err != nil {
		t.Fatalf("the vigil user: %v", err)
	}
	uid, _ := strconv.Atoi(vigil.Uid)
	wantFile(t, coordData, 0o700)
	if fi, err := os.Stat(coordData); err == nil && int(fi.Sys().(*syscall.Stat_t).Uid) != uid {
		t.Errorf("%s is not the vigil user's", coordData)
	}
	wantFile(t, filepath.Join(coordData, "admin.token"), 0o600)
	if pids := procsOf(coordBin); len(pids) != 1 {
		t.Errorf("coordinator processes: %v, want one", pids)
	} else if u := procUID(pids[0]); u != uid {
		t.Errorf("the coordinator runs as uid %d, want vigil (%d)", u, uid)
	}
	if links, _ := filepath.Glob("/etc/rc2.d/S*vigil-coordinator"); len(links) != 1 {
		t.Errorf("rc2.d links: %v, want the one update-rc.d makes", links)
	}
	// An API call with the token the first start wrote.
	tok, _ := os.ReadFile(filepath.Join(coordData, "admin.token"))
	if code, body := coordtest.Call(t, "http://"+addr, strings.TrimSpace(string(tok)), "GET", "/api/v1/devices", nil); code != http.StatusOK {
		t.Errorf("GET /api/v1/devices with admin.token: %d %s", code, body)
	}

	out = must(t, pkgEnv(), "dpkg", "-r", "vigil-coordinator")
	t.Logf("dpkg -r:\n%s", out)
	if ok, _ := healthz(); ok {
		t.Error("the coordinator still answers after dpkg -r")
	}
	if pids := procsOf(coordBin); len(pids) != 0 {
		t.Errorf("coordinator processes after dpkg -r: %v", pids)
	}
	wantFile(t, filepath.Join(coordData, "vigil.db"), 0o600)
	wantGone(t, coordBin)

	must(t, pkgEnv(), "dpkg", "--purge", "vigil-coordinator")
	wantGone(t, coordData, coordDefaults, coordInit, "/var/log/vigil-coordinator.log")
	sameFiles(t, before, snapshot(t))
}

// procsOf lists the processes running exe (also once it was deleted).
func procsOf(exe string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if l, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe")); err == nil && strings.TrimSuffix(l, " (deleted)") == exe {
			pids = append(pids, pid)
		}
	}
	return pids
}

func procUID(pid int) int {
	fi, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid)))
	if err != nil {
		return -1
	}
	return int(fi.Sys().(*syscall.Stat_t).Uid)
}
