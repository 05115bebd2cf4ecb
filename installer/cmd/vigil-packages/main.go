// Command vigil-packages builds Vigil's packages into a directory (`make
// packages`: dist/): for each architecture the agent and the coordinator
// as .deb and .rpm, and the Windows agent's exe and MSI, versioned from
// `git describe`. Signing, from the environment:
//
//	VIGIL_SIGN_PKCS12, VIGIL_SIGN_PASSWORD   Authenticode certificate (.p12/.pfx) and its password: signs the exe and the MSI
//	VIGIL_SIGN_TIMESTAMP_URL                 an RFC 3161 timestamp server for those signatures
//	VIGIL_GPG_KEY_FILE, VIGIL_GPG_PASSPHRASE an armored GPG private key: signs the .deb and .rpm
//
// Without them the packages are built unsigned, and it says so.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vigil-cc/vigil/installer"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "vigil-packages:", err)
		os.Exit(1)
	}
}

func run() error {
	out := flag.String("out", "dist", "`directory` for the packages")
	version := flag.String("version", "", "the version, vMAJOR.MINOR.PATCH (default: from git describe)")
	arches := flag.String("arch", "amd64,arm64", "Linux `architectures`, comma-separated")
	windows := flag.Bool("windows", true, "build the Windows exe and MSI")
	flag.Parse()

	root, err := gitOut("rev-parse", "--show-toplevel")
	if err != nil {
		return err
	}
	v, err := resolveVersion(*version)
	if err != nil {
		return err
	}
	fmt.Printf("version %s (MSI %s)\n", v.Package, v.MSI)
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	old, _ := filepath.Glob(filepath.Join(*out, "vigil-*"))
	for _, f := range old {
		os.Remove(f)
	}
	bin, err := os.MkdirTemp("", "vigil-bin-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(bin)
	b := installer.Build{Root: root, Version: v.Package, Out: bin, GO: os.Getenv("GO")}
	gpgKey, gpgPass := os.Getenv("VIGIL_GPG_KEY_FILE"), os.Getenv("VIGIL_GPG_PASSPHRASE")
	if gpgKey == "" {
		fmt.Println("VIGIL_GPG_KEY_FILE not set: the .deb and .rpm are not signed")
	}

	var built []string
	for _, arch := range strings.Split(*arches, ",") {
		coord, err := b.Coordinator(arch)
		if err != nil {
			return err
		}
		bins := map[string]string{"vigil-coordinator": coord}
		if ok, why := installer.CanBuildAgent(arch); ok {
			if bins["vigil-agent"], err = b.LinuxAgent(arch); err != nil {
				return err
			}
		} else {
			fmt.Printf("skipping vigil-agent for linux/%s: %s\n", arch, why)
		}
		for _, name := range []string{"vigil-agent", "vigil-coordinator"} {
			if bins[name] == "" {
				continue
			}
			for _, format := range []string{installer.Deb, installer.RPM} {
				p := installer.Package{Name: name, Format: format, Arch: arch, Version: v.Package, Binary: bins[name],
					GPGKeyFile: gpgKey, GPGPassphrase: gpgPass}
				path, err := p.Build(*out)
				if err != nil {
					return err
				}
				built = append(built, path)
			}
		}
	}

	if *windows {
		exe, err := b.WindowsAgent()
		if err != nil {
			return err
		}
		signer, sign := installer.SignerFromEnv()
		if !sign {
			fmt.Println("VIGIL_SIGN_PKCS12 not set: the Windows exe and MSI are not signed")
		}
		if sign {
			if err := signer.Sign(exe); err != nil {
				return err
			}
		}
		dstExe := filepath.Join(*out, fmt.Sprintf("vigil-agent_%s_windows_amd64.exe", v.Package))
		if err := copyTo(exe, dstExe); err != nil {
			return err
		}
		msi := filepath.Join(*out, fmt.Sprintf("vigil-agent_%s_windows_amd64.msi", v.Package))
		if err := installer.BuildMSI(exe, v.MSI, msi); err != nil {
			return err
		}
		if sign {
			if err := signer.Sign(msi); err != nil {
				return err
			}
		}
		built = append(built, dstExe, msi)
	}
	return writeSums(*out, built)
}

// resolveVersion is the version given, or git describe's.
func resolveVersion(given string) (installer.Version, error) {
	if given != "" {
		return installer.ParseDescribe(given, 0)
	}
	desc, err := gitOut("describe", "--tags", "--always", "--dirty", "--match", "v[0-9]*")
	if err != nil {
		return installer.Version{}, err
	}
	count, err := gitOut("rev-list", "--count", "HEAD")
	if err != nil {
		return installer.Version{}, err
	}
	n, err := strconv.Atoi(count)
	if err != nil {
		return installer.Version{}, fmt.Errorf("git rev-list --count HEAD: %q", count)
	}
	return installer.ParseDescribe(desc, n)
}

func gitOut(args ...string) (string, error) {
	out, err := exec.Command("git", args...).Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out)), nil
}

func copyTo(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// writeSums lists each package with its size, and writes SHA256SUMS.
func writeSums(dir string, paths []string) error {
	var sums strings.Builder
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		h := sha256.New()
		n, err := io.Copy(h, f)
		f.Close()
		if err != nil {
			return err
		}
		fmt.Fprintf(&sums, "%s  %s\n", hex.EncodeToString(h.Sum(nil)), filepath.Base(p))
		fmt.Printf("%-60s %6.1f MB\n", p, float64(n)/1e6)
	}
	return os.WriteFile(filepath.Join(dir, "vigil-SHA256SUMS"), []byte(sums.String()), 0o644)
}
