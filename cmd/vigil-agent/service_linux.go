package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"

	svcmgr "github.com/kardianos/service"

	"github.com/vigil-cc/vigil/agent"
)

// initScript is the SysV init script kardianos/service writes.
const initScript = "/etc/init.d/" + serviceName

// helperOutput: on Linux the helpers log to the service's stderr.
func helperOutput() io.Writer { return os.Stderr }

// cleanupService removes what the service manager leaves behind after
// uninstalling: SysV rc?.d links, the logs and pid file the init script
// wrote, the socket, and unless keepState the device token (the state
// directory). The config file at confPath stays.
func cleanupService(confPath string, keepState bool) error {
	socket, stateDir := defaultSocket, serviceStateDir
	if data, err := os.ReadFile(confPath); err == nil {
		if kvs, err := parseConfig(data); err == nil {
			for _, kv := range kvs {
				switch kv[0] {
				case "socket":
					socket = kv[1]
				case "state-dir":
					stateDir = kv[1]
				}
			}
		}
	}
	var errs []error
	rm := func(p string) {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	links, _ := filepath.Glob("/etc/rc?.d/[SK][0-9][0-9]" + serviceName)
	for _, l := range links {
		rm(l)
	}
	logs, _ := filepath.Glob("/var/log/" + serviceName + ".*")
	for _, l := range logs {
		rm(l)
	}
	rm("/var/run/" + serviceName + ".pid")
	rm(socket)
	_ = os.Remove(filepath.Dir(socket)) // only if empty
	if !keepState {
		rm(filepath.Join(stateDir, agent.DeviceFile))
		_ = os.Remove(stateDir) // only if empty
	}
	return errors.Join(errs...)
}

// packagedUnits are where the .deb and .rpm put the service's systemd
// unit (installer/linux/vigil-agent.service).
var packagedUnits = []string{"/usr/lib/systemd/system/" + serviceName + ".service", "/lib/systemd/system/" + serviceName + ".service"}

// registration is what install does about the service manager.
type registration int

const (
	register   registration = iota // write our own unit or init script
	enableUnit                     // a package's systemd unit exists: enable it
	registered                     // our SysV init script exists: keep it
)

// decideRegistration: under systemd a package's unit is enabled rather
// than shadowed by a second one in /etc/systemd/system; under SysV an init
// script already there (an upgrade, a second install) is kept.
func decideRegistration(system string, packagedUnit, initScriptExists bool) registration {
	switch {
	case system == "linux-systemd" && packagedUnit:
		return enableUnit
	case system == "unix-systemv" && initScriptExists:
		return registered
	}
	return register
}

func chosenSystem() string {
	if s := svcmgr.ChosenSystem(); s != nil {
		return s.String()
	}
	return ""
}

func anyExists(paths ...string) bool {
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return true
		}
	}
	return false
}

// adoptRegistration enables a registration a package made, or keeps an
// existing init script; false when install must register the service.
func adoptRegistration(svcmgr.Service) (bool, error) {
	switch decideRegistration(chosenSystem(), anyExists(packagedUnits...), anyExists(initScript)) {
	case enableUnit:
		if out, err := exec.Command("systemctl", "enable", serviceName+".service").CombinedOutput(); err != nil {
			return false, fmt.Errorf("systemctl enable %s: %v: %s", serviceName, err, out)
		}
		return true, nil
	case registered:
		return true, nil
	}
	return false, nil
}

// releaseRegistration disables a package's systemd unit (the package
// removes the file); false when the service library must unregister it.
func releaseRegistration() (bool, error) {
	if decideRegistration(chosenSystem(), anyExists(packagedUnits...), false) != enableUnit {
		return false, nil
	}
	if out, err := exec.Command("systemctl", "disable", serviceName+".service").CombinedOutput(); err != nil {
		return true, fmt.Errorf("systemctl disable %s: %v: %s", serviceName, err, out)
	}
	return true, nil
}

// serviceLog: on Linux the service logs to stderr, which the SysV init
// script appends to /var/log/vigil-agent.err (systemd: the journal).
func serviceLog() io.Writer { return os.Stderr }

// reportFatal: the error goes to stderr, which the service manager keeps.
func reportFatal(error) {}
