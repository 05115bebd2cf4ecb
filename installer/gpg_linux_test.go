package installer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"

	"github.com/vigil-cc/vigil/internal/testrig"
)

// Given a GPG key, the .rpm carries a signature (rpm -qpi shows it) and
// the .deb a debsign _gpgorigin member; without one, neither.
func TestGPGSignedLinuxPackages(t *testing.T) {
	a := linuxPackages(t)
	testrig.Require(t, "ar")
	dir := t.TempDir()
	key := filepath.Join(dir, "key.asc")
	e, err := openpgp.NewEntity("Vigil Test", "", "vigil-test@example.com", nil)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(key)
	if err != nil {
		t.Fatal(err)
	}
	w, err := armor.Encode(f, openpgp.PrivateKeyType, nil)
	if err == nil {
		err = e.SerializePrivate(w, nil)
	}
	if err == nil {
		err = w.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	// A small stand-in binary: signing hashes the whole package, and the
	// 13 MB agent under the race detector takes long to hash.
	agent := filepath.Join(dir, "vigil-agent")
	if err := os.WriteFile(agent, []byte("#!/bin/sh\necho stand-in\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{Deb, RPM} {
		signed, err := Package{Name: "vigil-agent", Format: format, Arch: "amd64", Version: "1.0.0", Binary: agent, GPGKeyFile: key}.Build(dir)
		if err != nil {
			t.Fatal(err)
		}
		unsigned := a.agentDeb
		if format == RPM {
			unsigned = a.agentRPM
		}
		switch format {
		case RPM:
			info := must(t, pkgEnv(), "rpm", "-qpi", "--nosignature", signed)
			if !strings.Contains(info, "Signature   : RSA") {
				t.Errorf("the signed rpm has no RSA signature:\n%s", info)
			}
			if info := must(t, pkgEnv(), "rpm", "-qpi", "--nosignature", unsigned); !strings.Contains(info, "Signature   : (none)") {
				t.Errorf("the unsigned rpm has a signature:\n%s", info)
			}
		case Deb:
			if members := must(t, pkgEnv(), "ar", "t", signed); !strings.Contains(members, "_gpgorigin") {
				t.Errorf("the signed deb has no _gpgorigin: %q", members)
			}
			if members := must(t, pkgEnv(), "ar", "t", unsigned); strings.Contains(members, "_gpgorigin") {
				t.Errorf("the unsigned deb has a _gpgorigin: %q", members)
			}
		}
	}
}
