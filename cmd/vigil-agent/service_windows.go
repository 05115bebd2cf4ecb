package main

import (
	"fmt"
	"io"
	"path/filepath"

	"golang.org/x/sys/windows/svc/eventlog"

	svcmgr "github.com/kardianos/service"

	"github.com/vigil-cc/vigil/agent/service"
)

const initScript = ""

// helperOutput: on Windows each helper logs to its own file.
func helperOutput() io.Writer { return nil }

func cleanupService(string) error { return nil }

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
