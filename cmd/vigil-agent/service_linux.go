package main

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/vigil-cc/vigil/agent"
)

// initScript is the SysV init script kardianos/service writes.
const initScript = "/etc/init.d/" + serviceName

// helperOutput: on Linux the helpers log to the service's stderr.
func helperOutput() io.Writer { return os.Stderr }

// cleanupService removes what the service manager leaves behind after
// uninstalling: SysV rc?.d links, the logs and pid file the init script
// wrote, the socket, and the device token (the state directory). The
// config file at confPath stays.
func cleanupService(confPath string) error {
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
	rm(filepath.Join(stateDir, agent.DeviceFile))
	_ = os.Remove(stateDir) // only if empty
	return errors.Join(errs...)
}

// serviceLog: on Linux the service logs to stderr, which the SysV init
// script appends to /var/log/vigil-agent.err (systemd: the journal).
func serviceLog() io.Writer { return os.Stderr }

// reportFatal: the error goes to stderr, which the service manager keeps.
func reportFatal(error) {}
