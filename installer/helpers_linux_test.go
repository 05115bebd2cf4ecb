package installer

// What the package tests share: the packages, built once per test binary
// from the repository (the same code `make packages` runs), the guards
// around this machine's one dpkg database and its system service, and a
// file list to compare before and after.

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/vigil-cc/vigil/internal/testrig"
)

// artifacts are what the tests install, in a directory TestMain removes.
type artifacts struct {
	dir string

	linuxOnce, winOnce sync.Once
	linuxErr, winErr   error

	agentDeb, agentDebNext, agentRPM string // 1.0.0, 1.0.1, 1.0.0
	coordDeb, coordRPM               string
	exe                              string // the Windows agent, 1.1.0
	msiOld, msiNew                   string // 1.0.0 (a different exe), 1.1.0
}

var built artifacts

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "vigil-installer-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	built.dir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func repoRoot(t testing.TB) string {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// linuxPackages builds the Linux packages once (amd64).
func linuxPackages(t testing.TB) *artifacts {
	t.Helper()
	testrig.Require(t, "dpkg", "rpm")
	built.linuxOnce.Do(func() {
		b := Build{Root: repoRoot(t), Version: "1.0.0", Out: filepath.Join(built.dir, "bin")}
		agent, err := b.LinuxAgent("amd64")
		if err != nil {
			built.linuxErr = err
			return
		}
		coord, err := b.Coordinator("amd64")
		if err != nil {
			built.linuxErr = err
			return
		}
		out := filepath.Join(built.dir, "pkg")
		if err := os.MkdirAll(out, 0o755); err != nil {
			built.linuxErr = err
			return
		}
		for _, p := range []struct {
			dst *string
			pkg Package
		}{
			{&built.agentDeb, Package{Name: "vigil-agent", Format: Deb, Arch: "amd64", Version: "1.0.0", Binary: agent}},
			{&built.agentDebNext, Package{Name: "vigil-agent", Format: Deb, Arch: "amd64", Version: "1.0.1", Binary: agent}},
			{&built.agentRPM, Package{Name: "vigil-agent", Format: RPM, Arch: "amd64", Version: "1.0.0", Binary: agent}},
			{&built.coordDeb, Package{Name: "vigil-coordinator", Format: Deb, Arch: "amd64", Version: "1.0.0", Binary: coord}},
			{&built.coordRPM, Package{Name: "vigil-coordinator", Format: RPM, Arch: "amd64", Version: "1.0.0", Binary: coord}},
		} {
			if *p.dst, err = p.pkg.Build(out); err != nil {
				built.linuxErr = err
				return
			}
		}
	})
	if built.linuxErr != nil {
		t.Fatal(built.linuxErr)
	}
	return &built
}

// windowsPackages builds the Windows agent and two MSIs once: 1.1.0 with
// it, 1.0.0 with a copy that differs (16 bytes appended, still a valid
// PE), so that an upgrade shows which exe is installed.
func windowsPackages(t testing.TB) *artifacts {
	t.Helper()
	testrig.Require(t, "wixl", "msibuild", "x86_64-w64-mingw32-gcc", "cmake")
	built.winOnce.Do(func() {
		b := Build{Root: repoRoot(t), Version: "1.1.0", Out: filepath.Join(built.dir, "bin")}
		exe, err := b.WindowsAgent()
		if err != nil {
			built.winErr = err
			return
		}
		built.exe = exe
		old := filepath.Join(built.dir, "bin", "old", "vigil-agent.exe")
		data, err := os.ReadFile(exe)
		if err == nil {
			err = os.MkdirAll(filepath.Dir(old), 0o755)
		}
		if err == nil {
			err = os.WriteFile(old, append(data, make([]byte, 16)...), 0o755)
		}
		if err != nil {
			built.winErr = err
			return
		}
		built.msiOld = filepath.Join(built.dir, "vigil-agent-1.0.0.msi")
		built.msiNew = filepath.Join(built.dir, "vigil-agent-1.1.0.msi")
		if built.winErr = BuildMSI(old, "1.0.0", built.msiOld); built.winErr != nil {
			return
		}
		built.winErr = BuildMSI(exe, "1.1.0", built.msiNew)
	})
	if built.winErr != nil {
		t.Fatal(built.winErr)
	}
	return &built
}

// requireRoot: dpkg and rpm --root need root. Under CI=true (or
// VIGIL_REQUIRE_RIG=1) a test fails without it, otherwise skips.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if testrig.Strict() {
		t.Fatal("installing packages needs root; CI=true or VIGIL_REQUIRE_RIG=1 forbids skipping")
	}
	t.Skip("installing packages needs root; skipping")
}

// guardSystem takes the machine-wide lock for the system service (the
// package tests here and the service test in cmd/vigil-agent/acceptance
// install the same service) and refuses to touch a machine where the
// package is installed or its files exist: the test purges what it
// installs, and would purge someone's real agent or coordinator.
func guardSystem(t *testing.T, pkg string, paths ...string) {
	t.Helper()
	requireRoot(t)
	testrig.SystemLock(t, "system-service")
	if out, err := exec.Command("dpkg-query", "-W", "-f=${db:Status-Abbrev}", pkg).Output(); err == nil && strings.TrimSpace(string(out)) != "un" && len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("the %s package is on this machine (dpkg status %q); not touching it", pkg, strings.TrimSpace(string(out)))
	}
	for _, p := range paths {
		if _, err := os.Lstat(p); err == nil {
			t.Fatalf("%s exists: a %s is installed on this machine; not touching it", p, pkg)
		}
	}
}

// pkgEnv is this process's environment without VIGIL_* settings (they
// would configure the package), non-interactive.
func pkgEnv(extra ...string) []string {
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "VIGIL_") {
			env = append(env, e)
		}
	}
	return append(append(env, "DEBIAN_FRONTEND=noninteractive"), extra...)
}

// must runs a command and returns its output, failing t if it fails.
func must(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	out, err := runOut(env, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func runOut(env []string, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// agentStatus is the first line `vigil-agent status` prints, and its error.
func agentStatus() (string, error) {
	cmd := exec.Command(agentBin, "status")
	cmd.Env = pkgEnv()
	out, err := cmd.Output()
	line, _, _ := strings.Cut(string(out), "\n")
	return line, err
}

// purgeOnCleanup purges pkg at the end of the test whatever happened.
func purgeOnCleanup(t *testing.T, pkg string) {
	t.Cleanup(func() {
		if out, err := runOut(pkgEnv(), "dpkg", "--purge", pkg); err != nil {
			t.Errorf("cleanup: dpkg --purge %s: %v\n%s", pkg, err, out)
		}
	})
}

// snapshot lists the files (path and mode) where packages and their
// scripts put things: whole trees the packages own or write, and
// everything with "vigil" in its name under busier trees.
func snapshot(t *testing.T) map[string]string {
	t.Helper()
	files := map[string]string{}
	add := func(root string, onlyVigil bool) {
		_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil // gone while walking, or not there
			}
			if onlyVigil && !strings.Contains(p, "vigil") {
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return nil
			}
			files[p] = info.Mode().String()
			return nil
		})
	}
	for _, root := range []string{"/etc/vigil", "/etc/default", "/etc/sysconfig", "/etc/init.d",
		"/etc/rc0.d", "/etc/rc1.d", "/etc/rc2.d", "/etc/rc3.d", "/etc/rc4.d", "/etc/rc5.d", "/etc/rc6.d", "/etc/rcS.d",
		"/etc/systemd", "/usr/bin", "/usr/lib/systemd/system", "/var/lib/vigil"} {
		add(root, false)
	}
	for _, root := range []string{"/var/log", "/run", "/var/lib/dpkg/info", "/usr/share/doc"} {
		add(root, true)
	}
	return files
}

// sameFiles fails t if after differs from before, listing the difference.
func sameFiles(t *testing.T, before, after map[string]string) {
	t.Helper()
	var diff []string
	for p, m := range after {
		if bm, ok := before[p]; !ok {
			diff = append(diff, "+ "+p+" "+m)
		} else if bm != m {
			diff = append(diff, "~ "+p+" "+bm+" -> "+m)
		}
	}
	for p, m := range before {
		if _, ok := after[p]; !ok {
			diff = append(diff, "- "+p+" "+m)
		}
	}
	if len(diff) > 0 {
		sort.Strings(diff)
		t.Errorf("files differ from before the install:\n%s", strings.Join(diff, "\n"))
	}
}

// fileMode fails t unless path exists with mode and owner uid 0 (or the
// uid given).
func wantFile(t *testing.T, path string, mode fs.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Errorf("%s: %v", path, err)
		return
	}
	if fi.Mode().Perm() != mode {
		t.Errorf("%s: mode %v, want %v", path, fi.Mode().Perm(), mode)
	}
}

func wantGone(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s is still there", p)
		}
	}
}

// dpkgStatus is dpkg's abbreviated status of pkg ("ii", "rc", ...; "" if
// unknown).
func dpkgStatus(pkg string) string {
	out, _ := exec.Command("dpkg-query", "-W", "-f=${db:Status-Abbrev} ${Version}", pkg).Output()
	return strings.Join(strings.Fields(string(out)), " ")
}
