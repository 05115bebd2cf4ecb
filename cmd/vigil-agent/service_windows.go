package main

import (
	"io"
	"path/filepath"

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
