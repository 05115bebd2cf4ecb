package installer

import (
	"fmt"
	"os"
	"path/filepath"
)

// Signer signs Windows files with Authenticode (osslsigncode, SHA-256).
type Signer struct {
	PKCS12       string // the certificate and its key (.p12 / .pfx)
	Password     string // the PKCS#12 file's password
	TimestampURL string // an RFC 3161 timestamp server; none if empty
}

// SignerFromEnv is the release builds' signer: VIGIL_SIGN_PKCS12 (a .p12
// or .pfx file), VIGIL_SIGN_PASSWORD, VIGIL_SIGN_TIMESTAMP_URL. ok is
// false when no certificate is given.
func SignerFromEnv() (s Signer, ok bool) {
	s = Signer{
		PKCS12:       os.Getenv("VIGIL_SIGN_PKCS12"),
		Password:     os.Getenv("VIGIL_SIGN_PASSWORD"),
		TimestampURL: os.Getenv("VIGIL_SIGN_TIMESTAMP_URL"),
	}
	return s, s.PKCS12 != ""
}

// Sign signs the .exe or .msi at path in place.
func (s Signer) Sign(path string) error {
	dir, err := os.MkdirTemp("", "vigil-sign-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// The password through a file, not the command line, where other
	// users could read it.
	passFile := filepath.Join(dir, "pass")
	if err := os.WriteFile(passFile, []byte(s.Password), 0o600); err != nil {
		return err
	}
	signed := filepath.Join(dir, "signed"+filepath.Ext(path))
	args := []string{"sign", "-pkcs12", s.PKCS12, "-readpass", passFile, "-h", "sha256",
		"-n", "Vigil agent", "-i", "https://github.com/vigil-cc/vigil"}
	if s.TimestampURL != "" {
		args = append(args, "-ts", s.TimestampURL)
	}
	args = append(args, "-in", path, "-out", signed)
	if err := run("", "osslsigncode", args...); err != nil {
		return fmt.Errorf("signing %s: %w", filepath.Base(path), err)
	}
	if err := copyFile(signed, path); err != nil {
		return fmt.Errorf("signing %s: %w", filepath.Base(path), err)
	}
	return nil
}

// Verify checks the Authenticode signature of the file at path against
// the CA certificates in caFile.
func Verify(path, caFile string) error {
	if err := run("", "osslsigncode", "verify", "-CAfile", caFile, "-in", path); err != nil {
		return fmt.Errorf("verifying %s: %w", filepath.Base(path), err)
	}
	return nil
}
