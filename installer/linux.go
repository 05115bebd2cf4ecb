package installer

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the packagers
	"github.com/goreleaser/nfpm/v2/files"
	_ "github.com/goreleaser/nfpm/v2/rpm"
)

//go:embed linux windows
var sources embed.FS

// Linux package formats.
const (
	Deb = "deb"
	RPM = "rpm"
)

// Package is one Linux package to build.
type Package struct {
	Name    string // vigil-agent or vigil-coordinator
	Format  string // Deb or RPM
	Arch    string // GOARCH: amd64, arm64
	Version string // Version.Package
	Binary  string // the built binary for /usr/bin
	// GPGKeyFile, if set, signs the package with that (armored) private
	// key; GPGPassphrase unlocks it.
	GPGKeyFile, GPGPassphrase string
}

// FileName is the package's file name, in its format's convention.
func (p Package) FileName() string {
	if p.Format == RPM {
		arch := map[string]string{"amd64": "x86_64", "arm64": "aarch64"}[p.Arch]
		return fmt.Sprintf("%s-%s-1.%s.rpm", p.Name, p.Version, arch)
	}
	return fmt.Sprintf("%s_%s_%s.deb", p.Name, p.Version, p.Arch)
}

// stage writes the packaging sources (units, scripts, settings files) to
// dir, where nfpm reads them.
func stage(dir string) error {
	return fs.WalkDir(sources, "linux", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := sources.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, filepath.Base(path)), b, 0o644)
	})
}

// info is the nfpm description of p, its sources staged in dir.
func (p Package) info(dir string) (*nfpm.Info, error) {
	src := func(name string) string { return filepath.Join(dir, name) }
	mode := func(m os.FileMode) *files.ContentFileInfo {
		return &files.ContentFileInfo{Owner: "root", Group: "root", Mode: m}
	}
	info := &nfpm.Info{
		Name:            p.Name,
		Arch:            p.Arch,
		Platform:        "linux",
		Version:         p.Version,
		VersionSchema:   "none", // Version.Package is already in deb and rpm terms
		Release:         "1",
		Section:         "admin",
		Priority:        "optional",
		Maintainer:      "Vigil <vigil@example.com>",
		Vendor:          "Vigil",
		Homepage:        "https://github.com/vigil-cc/vigil",
		License:         "Proprietary",
		DisableGlobbing: true,
		MTime:           time.Unix(0, 0).UTC(),
	}
	info.RPM.Summary = "Vigil"
	switch p.Name {
	case "vigil-agent":
		info.Description = "Vigil workstation agent\nReports desktop inactivity (input idle time, the Agent Desk window, screen\nlock, voice on the microphone) to the Vigil coordinator and shows its\nwarnings. Runs as a system service with one helper per desktop session."
		info.RPM.Summary = "Vigil workstation agent"
		info.Depends = []string{"libc6", "libx11-6", "libxtst6", "libportaudio2"}
		if p.Format == RPM {
			info.Depends = []string{"libX11", "libXtst", "portaudio"}
		}
		info.Contents = files.Contents{
			{Source: p.Binary, Destination: "/usr/bin/vigil-agent", FileInfo: mode(0o755)},
			{Source: src("vigil-agent.service"), Destination: "/usr/lib/systemd/system/vigil-agent.service", FileInfo: mode(0o644)},
			{Source: src("agent.conf"), Destination: "/etc/vigil/agent.conf", Type: files.TypeConfigNoReplace, FileInfo: mode(0o600)},
		}
		info.Scripts = nfpm.Scripts{
			PostInstall: src("agent-postinst.sh"),
			PreRemove:   src("agent-prerm.sh"),
			PostRemove:  src("agent-postrm.sh"),
		}
	case "vigil-coordinator":
		info.Description = "Vigil coordinator\nKeeps one inactivity clock per Agent Desk user, warns and logs out, and\nserves the agents' WebSocket endpoint, the HTTP API and the web pages."
		info.RPM.Summary = "Vigil coordinator"
		info.Depends = []string{"passwd"}
		defaults := "/etc/default/vigil-coordinator"
		if p.Format == RPM {
			info.Depends = []string{"shadow-utils"}
			defaults = "/etc/sysconfig/vigil-coordinator"
		}
		info.Contents = files.Contents{
			{Source: p.Binary, Destination: "/usr/bin/vigil-coordinator", FileInfo: mode(0o755)},
			{Source: src("vigil-coordinator.service"), Destination: "/usr/lib/systemd/system/vigil-coordinator.service", FileInfo: mode(0o644)},
			{Source: src("coordinator.default"), Destination: defaults, Type: files.TypeConfigNoReplace, FileInfo: mode(0o600)},
		}
		if p.Format == Deb {
			// Debian without systemd; RPM systems all run systemd.
			info.Contents = append(info.Contents, &files.Content{
				Source: src("vigil-coordinator.init"), Destination: "/etc/init.d/vigil-coordinator", Type: files.TypeConfig, FileInfo: mode(0o755),
			})
		}
		info.Scripts = nfpm.Scripts{
			PreInstall:  src("coordinator-preinst.sh"),
			PostInstall: src("coordinator-postinst.sh"),
			PreRemove:   src("coordinator-prerm.sh"),
			PostRemove:  src("coordinator-postrm.sh"),
		}
	default:
		return nil, fmt.Errorf("no package named %q", p.Name)
	}
	if p.GPGKeyFile != "" {
		info.Deb.Signature.KeyFile = p.GPGKeyFile
		info.Deb.Signature.KeyPassphrase = p.GPGPassphrase
		info.RPM.Signature.KeyFile = p.GPGKeyFile
		info.RPM.Signature.KeyPassphrase = p.GPGPassphrase
	}
	return info, nil
}

// Build writes p into outDir and returns the package's path.
func (p Package) Build(outDir string) (string, error) {
	dir, err := os.MkdirTemp("", "vigil-pkg-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	if err := stage(dir); err != nil {
		return "", fmt.Errorf("staging the packaging files: %w", err)
	}
	info, err := p.info(dir)
	if err != nil {
		return "", err
	}
	if err := nfpm.PrepareForPackager(info, p.Format); err != nil {
		return "", fmt.Errorf("preparing %s: %w", p.FileName(), err)
	}
	info = nfpm.WithDefaults(info)
	if err := nfpm.Validate(info); err != nil {
		return "", fmt.Errorf("checking %s: %w", p.FileName(), err)
	}
	pkgr, err := nfpm.Get(p.Format)
	if err != nil {
		return "", err
	}
	out := filepath.Join(outDir, p.FileName())
	f, err := os.Create(out)
	if err != nil {
		return "", err
	}
	if err := pkgr.Package(info, f); err != nil {
		f.Close()
		os.Remove(out)
		return "", fmt.Errorf("building %s: %w", p.FileName(), err)
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return out, nil
}
