package installer

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-cc/vigil/internal/testrig"
)

// testCA makes a CA and a code-signing certificate it issued, as a
// password-protected PKCS#12 file; it returns the CA certificate's file
// and the signer.
func testCA(t *testing.T) (string, Signer) {
	t.Helper()
	testrig.Require(t, "openssl", "osslsigncode")
	dir := t.TempDir()
	f := func(name string) string { return filepath.Join(dir, name) }
	if err := os.WriteFile(f("sign.ext"), []byte("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f("ca.key"), "-out", f("ca.crt"), "-days", "2",
			"-subj", "/CN=Vigil Test CA", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"},
		{"req", "-newkey", "rsa:2048", "-nodes", "-keyout", f("sign.key"), "-out", f("sign.csr"), "-subj", "/CN=Vigil Test Code Signing"},
		{"x509", "-req", "-in", f("sign.csr"), "-CA", f("ca.crt"), "-CAkey", f("ca.key"), "-CAcreateserial",
			"-out", f("sign.crt"), "-days", "2", "-extfile", f("sign.ext")},
		{"pkcs12", "-export", "-out", f("sign.p12"), "-inkey", f("sign.key"), "-in", f("sign.crt"), "-certfile", f("ca.crt"),
			"-passout", "pass:test password"},
	} {
		if out, err := exec.Command("openssl", args...).CombinedOutput(); err != nil {
			t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return f("ca.crt"), Signer{PKCS12: f("sign.p12"), Password: "test password"}
}

// Authenticode (SHA-256) on the exe and the MSI: osslsigncode verify
// passes against the test CA, and fails for a copy with one byte changed
// and for a file never signed.
func TestSignVerifyExeAndMSI(t *testing.T) {
	a := windowsPackages(t)
	ca, signer := testCA(t)
	dir := t.TempDir()
	for _, src := range []string{a.exe, a.msiNew} {
		name := filepath.Base(src)
		signed := filepath.Join(dir, name)
		if err := copyFile(src, signed); err != nil {
			t.Fatal(err)
		}
		if err := Verify(signed, ca); err == nil {
			t.Errorf("%s verifies before it is signed", name)
		}
		if err := signer.Sign(signed); err != nil {
			t.Fatal(err)
		}
		if err := Verify(signed, ca); err != nil {
			t.Errorf("the signed %s: %v", name, err)
		}
		out, _ := exec.Command("osslsigncode", "verify", "-CAfile", ca, "-in", signed).CombinedOutput()
		if !strings.Contains(string(out), "SHA256") && !strings.Contains(strings.ToLower(string(out)), "sha256") {
			t.Errorf("%s: the signature is not SHA-256:\n%s", name, out)
		}

		data, err := os.ReadFile(signed)
		if err != nil {
			t.Fatal(err)
		}
		data[len(data)/2] ^= 0x01
		tampered := filepath.Join(dir, "tampered-"+name)
		if err := os.WriteFile(tampered, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := Verify(tampered, ca); err == nil {
			t.Errorf("%s with one byte changed (offset %d) verifies", name, len(data)/2)
		}
	}
}
