//go:build linux

package testrig

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// aptPackage names the Debian package that provides each binary the rig uses,
// so a failure says what to install.
var aptPackage = map[string]string{
	"Xvfb":        "xvfb",
	"openbox":     "openbox",
	"xdotool":     "xdotool",
	"xprop":       "x11-utils",
	"xdpyinfo":    "x11-utils",
	"xwininfo":    "x11-utils",
	"xmessage":    "x11-utils",
	"xprintidle":  "xprintidle",
	"pulseaudio":  "pulseaudio",
	"pactl":       "pulseaudio-utils",
	"paplay":      "pulseaudio-utils",
	"parec":       "pulseaudio-utils",
	"parecord":    "pulseaudio-utils",
	"sox":         "sox",
	"espeak-ng":   "espeak-ng",
	"aplay":       "alsa-utils",
	"arecord":     "alsa-utils",
	"chromium":    "chromium",
	"dbus-daemon": "dbus",
	// packages (installer/)
	"dpkg":         "dpkg",
	"rpm":          "rpm",
	"wixl":         "wixl",
	"msibuild":     "msitools",
	"osslsigncode": "osslsigncode",
	"openssl":      "openssl",
	"service":      "init-system-helpers",
	"ar":           "binutils",
}

// Strict reports whether missing rig components must fail tests rather than
// skip them: in CI (CI=true) or when VIGIL_REQUIRE_RIG=1.
func Strict() bool {
	return truthy(os.Getenv("CI")) || truthy(os.Getenv("VIGIL_REQUIRE_RIG"))
}

func truthy(s string) bool {
	b, err := strconv.ParseBool(strings.TrimSpace(s))
	return err == nil && b
}

// Require checks that every binary is on PATH. If any is missing the test
// fails (Strict) or is skipped, naming the binaries and their apt packages.
func Require(t testing.TB, bins ...string) {
	t.Helper()
	var missing []string
	for _, b := range bins {
		if _, err := exec.LookPath(b); err != nil {
			pkg := aptPackage[b]
			if pkg == "" {
				pkg = "unknown package"
			}
			missing = append(missing, b+" (apt package "+pkg+")")
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := "test rig incomplete, missing: " + strings.Join(missing, ", ")
	if Strict() {
		t.Fatalf("%s; CI=true or VIGIL_REQUIRE_RIG=1 forbids skipping (run scripts/deps.sh)", msg)
	} else {
		t.Skip(msg + "; skipping (set VIGIL_REQUIRE_RIG=1 to make this fail)")
	}
}
