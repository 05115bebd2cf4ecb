package installer

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-cc/vigil/internal/testrig"
)

// winPath is path on this machine as Wine's Z: drive sees it.
func winPath(p string) string { return `Z:` + strings.ReplaceAll(p, "/", `\`) }

// The MSI for real under Wine: a silent install with COORDINATOR and
// ENROLL_TOKEN puts the exe in Program Files\Vigil, registers the service
// (ImagePath with its config, auto start, LocalSystem) and writes the
// config with both; a newer MSI over it leaves one service, one product
// and the newer exe, and keeps the config; msiexec /x removes the service,
// the files and the product. (Services do not start under Wine 8, so the
// MSI's start is not checked; its failure is ignored by the MSI as on a
// machine without settings.)
func TestWineMSIInstallUpgradeUninstall(t *testing.T) {
	a := windowsPackages(t)
	x := testrig.Display(t)
	w := testrig.Wine(t, x)
	drive := filepath.Join(w.Dir, "drive_c")
	exe := filepath.Join(drive, "Program Files", "Vigil", "vigil-agent.exe")
	conf := filepath.Join(drive, "ProgramData", "Vigil", "agent.conf")
	const svcKey = `HKLM\System\CurrentControlSet\Services\vigil-agent`

	msiexec := func(args ...string) string {
		t.Helper()
		out, err := w.Command("msiexec", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("msiexec %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	reg := func(args ...string) (string, error) {
		out, err := w.Command("reg", append([]string{"query"}, args...)...).CombinedOutput()
		return strings.ReplaceAll(string(out), "\r", ""), err
	}
	sameBytes := func(path, want string) bool {
		a, err1 := os.ReadFile(path)
		b, err2 := os.ReadFile(want)
		return err1 == nil && err2 == nil && bytes.Equal(a, b)
	}
	products := func() int {
		out, _ := reg(`HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall`, "/s")
		return strings.Count(out, "REG_SZ    Vigil agent\n")
	}
	services := func() int {
		out, _ := reg(`HKLM\System\CurrentControlSet\Services`)
		return strings.Count(out+"\n", `\Services\vigil-agent`+"\n")
	}

	out := msiexec("/i", winPath(a.msiOld), "/qn", "COORDINATOR=https://vigil.example.com", "ENROLL_TOKEN=vgl_enr_fromthemsi")
	t.Logf("msiexec /i 1.0.0:\n%s", out)
	if !sameBytes(exe, filepath.Join(built.dir, "bin", "old", "vigil-agent.exe")) {
		t.Fatalf("%s is not the 1.0.0 exe", exe)
	}
	svc, err := reg(svcKey)
	if err != nil {
		t.Fatalf("reg query %s: %v\n%s", svcKey, err, svc)
	}
	t.Logf("the service:\n%s", svc)
	for _, want := range []string{
		`ImagePath    REG_SZ    C:\Program Files\Vigil\vigil-agent.exe service --config "C:\ProgramData\Vigil\agent.conf"`,
		"Start    REG_DWORD    0x2", // auto start
		"ObjectName    REG_SZ    LocalSystem",
	} {
		if !strings.Contains(svc, want) {
			t.Errorf("the service's key lacks %q", want)
		}
	}
	cfg, err := os.ReadFile(conf)
	if err != nil {
		t.Fatalf("the config: %v", err)
	}
	for _, want := range []string{`coordinator = "https://vigil.example.com"`, `enroll-token = "vgl_enr_fromthemsi"`} {
		if !strings.Contains(string(cfg), want) {
			t.Errorf("the config lacks %s:\n%s", want, cfg)
		}
	}
	if n := products(); n != 1 {
		t.Errorf("%d Vigil agent products registered, want 1", n)
	}

	// The newer MSI over it, without properties: an upgrade in place.
	t.Logf("msiexec /i 1.1.0:\n%s", msiexec("/i", winPath(a.msiNew), "/qn"))
	if !sameBytes(exe, a.exe) {
		t.Errorf("after the upgrade %s is not the 1.1.0 exe", exe)
	}
	if n := services(); n != 1 {
		t.Errorf("%d vigil-agent services after the upgrade, want 1", n)
	}
	if n := products(); n != 1 {
		t.Errorf("%d Vigil agent products after the upgrade, want 1", n)
	}
	if c, _ := os.ReadFile(conf); !bytes.Equal(c, cfg) {
		t.Errorf("the upgrade changed the config:\n%s", c)
	}

	t.Logf("msiexec /x:\n%s", msiexec("/x", winPath(a.msiNew), "/qn"))
	wantGone(t, exe, filepath.Dir(exe))
	if out, err := reg(svcKey); err == nil {
		t.Errorf("the service is still registered:\n%s", out)
	}
	if n := products(); n != 0 {
		t.Errorf("%d Vigil agent products after msiexec /x, want 0", n)
	}
}
