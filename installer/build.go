package installer

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Build builds the binaries the packages hold.
type Build struct {
	Root    string // the repository's root
	Version string // Version.Package, stamped into the agent (agent.Version)
	Out     string // where the binaries go
	GO      string // the go command; "go" if empty
}

func (b Build) ldflags() string {
	return "-X github.com/vigil-cc/vigil/agent.Version=" + b.Version
}

func (b Build) goBuild(out string, env []string, pkg string) error {
	gocmd := b.GO
	if gocmd == "" {
		gocmd = "go"
	}
	cmd := exec.Command(gocmd, "build", "-trimpath", "-ldflags", b.ldflags(), "-o", out, pkg)
	cmd.Dir = b.Root
	cmd.Env = append(os.Environ(), env...)
	if o, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s (%v): %v\n%s", pkg, env, err, o)
	}
	return nil
}

// Coordinator builds the coordinator for linux/arch, pure Go.
func (b Build) Coordinator(arch string) (string, error) {
	out := filepath.Join(b.Out, "linux-"+arch, "vigil-coordinator")
	return out, b.goBuild(out, []string{"GOOS=linux", "GOARCH=" + arch, "CGO_ENABLED=0"}, "./cmd/vigil-coordinator")
}

// arm64PkgConfig is where Debian's multiarch arm64 libraries put their
// pkg-config files.
const arm64PkgConfig = "/usr/lib/aarch64-linux-gnu/pkgconfig"

// CanBuildAgent says whether the Linux agent can be built for arch here:
// it needs cgo (X11, XTest, PortAudio), so arm64 takes Debian's cross
// compiler (gcc-aarch64-linux-gnu) and the arm64 -dev packages through
// multiarch. If not, why.
func CanBuildAgent(arch string) (bool, string) {
	switch arch {
	case "amd64":
		return true, ""
	case "arm64":
		if _, err := exec.LookPath("aarch64-linux-gnu-gcc"); err != nil {
			return false, "no aarch64-linux-gnu-gcc (apt-get install gcc-aarch64-linux-gnu)"
		}
		for _, pc := range []string{"x11", "xtst", "portaudio-2.0"} {
			if _, err := os.Stat(filepath.Join(arm64PkgConfig, pc+".pc")); err != nil {
				return false, fmt.Sprintf("no arm64 %s.pc (dpkg --add-architecture arm64; apt-get install libx11-dev:arm64 libxtst-dev:arm64 portaudio19-dev:arm64)", pc)
			}
		}
		return true, ""
	}
	return false, "unsupported architecture " + arch
}

// LinuxAgent builds the agent for linux/arch with cgo.
func (b Build) LinuxAgent(arch string) (string, error) {
	if ok, why := CanBuildAgent(arch); !ok {
		return "", fmt.Errorf("cannot build the Linux agent for %s here: %s", arch, why)
	}
	out := filepath.Join(b.Out, "linux-"+arch, "vigil-agent")
	env := []string{"GOOS=linux", "GOARCH=" + arch, "CGO_ENABLED=1"}
	if arch == "arm64" {
		env = append(env, "CC=aarch64-linux-gnu-gcc", "PKG_CONFIG_LIBDIR="+arm64PkgConfig+":/usr/share/pkgconfig", "PKG_CONFIG_PATH=")
	}
	return out, b.goBuild(out, env, "./cmd/vigil-agent")
}

// WindowsAgent builds the Windows agent the way `make windows` does
// (scripts/build-windows.sh: cgo with mingw-w64 and a static PortAudio).
func (b Build) WindowsAgent() (string, error) {
	out := filepath.Join(b.Out, "windows-amd64", "vigil-agent.exe")
	cmd := exec.Command(filepath.Join(b.Root, "scripts", "build-windows.sh"), out)
	cmd.Dir = b.Root
	cmd.Env = append(os.Environ(), "VIGIL_LDFLAGS="+b.ldflags())
	if b.GO != "" {
		cmd.Env = append(cmd.Env, "GO="+b.GO)
	}
	if o, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the Windows agent (scripts/build-windows.sh): %v\n%s", err, o)
	}
	return out, nil
}
