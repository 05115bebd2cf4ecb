package installer

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/template"
)

// The MSI's public properties for silent installs: secure, so that they
// reach the elevated part of the install; the token hidden from the log.
// wixl writes SecureCustomProperties itself (for MajorUpgrade's), and
// fails on a second definition, so BuildMSI appends these afterwards.
var msiSecureProperties = []string{"COORDINATOR", "ENROLL_TOKEN"}

// BuildMSI builds the agent's MSI (version: Version.MSI) around exe (sign
// it first) and writes it to out.
func BuildMSI(exe, version, out string) error {
	src, err := sources.ReadFile("windows/vigil-agent.wxs")
	if err != nil {
		return err
	}
	tmpl, err := template.New("wxs").Parse(string(src))
	if err != nil {
		return fmt.Errorf("reading the WiX source: %w", err)
	}
	dir, err := os.MkdirTemp("", "vigil-msi-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// wixl takes a File's Source relative to where it runs.
	if err := copyFile(exe, filepath.Join(dir, "vigil-agent.exe")); err != nil {
		return err
	}
	wxs, err := os.Create(filepath.Join(dir, "vigil-agent.wxs"))
	if err != nil {
		return err
	}
	err = tmpl.Execute(wxs, struct{ Version, Exe string }{version, "vigil-agent.exe"})
	if cerr := wxs.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing the WiX source: %w", err)
	}
	abs, err := filepath.Abs(out)
	if err != nil {
		return err
	}
	if err := run(dir, "wixl", "-a", "x64", "-o", abs, "vigil-agent.wxs"); err != nil {
		return fmt.Errorf("building the MSI: %w", err)
	}
	q := fmt.Sprintf("UPDATE Property SET Value='WIX_DOWNGRADE_DETECTED;WIX_UPGRADE_DETECTED;%s' WHERE Property='SecureCustomProperties'",
		strings.Join(msiSecureProperties, ";"))
	if err := run(dir, "msibuild", abs, "-q", q); err != nil {
		return fmt.Errorf("marking the MSI's public properties secure: %w", err)
	}
	return nil
}

// run runs a tool in dir; its output is in the error.
func run(dir, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v\n%s", name, err, out)
	}
	return nil
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
