package main

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc/eventlog"
	"golang.org/x/sys/windows/svc/mgr"

	svcmgr "github.com/kardianos/service"

	"github.com/vigil-cc/vigil/agent/service"
)

const initScript = ""

// helperOutput: on Windows each helper logs to its own file.
func helperOutput() io.Writer { return nil }

func cleanupService(string, bool) error { return nil }

// adoptRegistration: the MSI registers the service itself (ServiceInstall)
// and then runs install to write the config; install then gives that
// service what the MSI's tables cannot express with wixl: a restart 5 s
// after a failure (reset after 60 s), as kardianos does for a service it
// registers. false when no service is registered yet.
func adoptRegistration(svcmgr.Service) (bool, error) {
	m, err := mgr.Connect()
	if err != nil {
		return false, fmt.Errorf("connecting to the service manager: %w", err)
	}
	defer m.Disconnect()
	s, err := m.OpenService(serviceName)
	if errors.Is(err, windows.ERROR_SERVICE_DOES_NOT_EXIST) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("opening the %s service: %w", serviceName, err)
	}
	defer s.Close()
	restart := mgr.RecoveryAction{Type: mgr.ServiceRestart, Delay: 5 * time.Second}
	if err := s.SetRecoveryActions([]mgr.RecoveryAction{restart, restart, restart}, 60); err != nil {
		return false, fmt.Errorf("setting the %s service's recovery actions: %w", serviceName, err)
	}
	return true, nil
}

// releaseRegistration: uninstall deletes the service through the service
// library (an MSI's is removed by msiexec /x).
func releaseRegistration() (bool, error) { return false, nil }

// serviceLog: a Windows service has no stderr; it logs to
// %ProgramData%\Vigil\logs\vigil-agent.log, rotated at 10 MB.
func serviceLog() io.Writer {
	return &service.LogFile{Path: filepath.Join(defaultConfigDir, "logs", "vigil-agent.log")}
}

func platformOptions(svcmgr.KeyValue) {}

// reportFatal puts why the service cannot start in the Application event
// log (the source kardianos/service registers at install): the service
// has no stderr, and its log file may be what was refused.
func reportFatal(err error) {
	el, oerr := eventlog.Open(serviceName)
	if oerr != nil {
		return
	}
	defer el.Close()
	_ = el.Error(1, fmt.Sprintf("%s service: %v", serviceName, err))
}
