package installer

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The .rpm packages: rpm -qlp lists the binary, the unit and the settings
// file; every scriptlet passes sh -n; installed into a temporary root
// (rpm --root, scriptlets off: they would run chrooted into an empty
// root), the files are there with their modes, and erased they are gone.
func TestRPMListsInstallsIntoRoot(t *testing.T) {
	a := linuxPackages(t)
	requireRoot(t)
	for _, tc := range []struct {
		name, rpm  string
		files      map[string]os.FileMode
		scriptlets []string
	}{
		{"vigil-agent", a.agentRPM, map[string]os.FileMode{
			"/usr/bin/vigil-agent": 0o755, "/usr/lib/systemd/system/vigil-agent.service": 0o644, "/etc/vigil/agent.conf": 0o600,
		}, []string{"POSTIN", "PREUN", "POSTUN"}},
		{"vigil-coordinator", a.coordRPM, map[string]os.FileMode{
			"/usr/bin/vigil-coordinator": 0o755, "/usr/lib/systemd/system/vigil-coordinator.service": 0o644, "/etc/sysconfig/vigil-coordinator": 0o600,
		}, []string{"PREIN", "POSTIN", "PREUN", "POSTUN"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			list := must(t, pkgEnv(), "rpm", "-qlp", tc.rpm)
			for f := range tc.files {
				if !strings.Contains("\n"+list, "\n"+f+"\n") {
					t.Errorf("rpm -qlp does not list %s:\n%s", f, list)
				}
			}
			if cfg := must(t, pkgEnv(), "rpm", "-qcp", tc.rpm); !strings.Contains(cfg, "/etc/") {
				t.Errorf("no config file marked: %q", cfg)
			}
			for _, s := range tc.scriptlets {
				body := must(t, pkgEnv(), "rpm", "-qp", "--qf", "%{"+s+"}", tc.rpm)
				if strings.TrimSpace(body) == "" || body == "(none)" {
					t.Errorf("no %s scriptlet", s)
					continue
				}
				file := filepath.Join(t.TempDir(), s+".sh")
				if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
				for _, sh := range []string{"sh", "bash"} {
					if out, err := exec.Command(sh, "-n", file).CombinedOutput(); err != nil {
						t.Errorf("%s -n of the %s scriptlet: %v\n%s", sh, s, err, out)
					}
				}
			}

			root := t.TempDir()
			must(t, pkgEnv(), "rpm", "--root", root, "--initdb")
			must(t, pkgEnv(), "rpm", "-i", "--root", root, "--nodeps", "--noscripts", tc.rpm)
			if q := must(t, pkgEnv(), "rpm", "-q", "--root", root, tc.name); !strings.HasPrefix(q, tc.name+"-1.0.0-1") {
				t.Errorf("rpm -q in the root: %q", q)
			}
			for f, mode := range tc.files {
				wantFile(t, filepath.Join(root, f), mode)
			}
			must(t, pkgEnv(), "rpm", "-e", "--root", root, "--noscripts", tc.name)
			for f := range tc.files {
				wantGone(t, filepath.Join(root, f))
			}
		})
	}
}
