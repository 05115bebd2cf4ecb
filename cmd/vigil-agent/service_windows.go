package main

import (
	"context"
	"github.com/kardianos/service"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/vigil-cc/vigil/agent/svc"
)

const initScript = ""

// supervise runs one helper in each active interactive Windows session, as
// the session's user (WTSQueryUserToken + CreateProcessAsUser on
// winsta0\default). Sessions are polled every 2 s.
func supervise(ctx context.Context, log *slog.Logger, cfg serviceConfig) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	var args []string
	if !cfg.mic {
		args = append(args, "--mic=false")
	}
	s := &svc.Supervisor{
		Find:  svc.WTSSessions,
		Start: svc.HelperCommand(exe, cfg.socket, args, nil),
		Log:   log,
	}
	return s.Run(ctx)
}

func cleanupService(string) error { return nil }

// serviceLog: a Windows service has no stderr; it logs to
// %ProgramData%\Vigil\logs\vigil-agent.log, rotated at 10 MB.
func serviceLog() io.Writer {
	return &svc.LogFile{Path: filepath.Join(defaultConfigDir, "logs", "vigil-agent.log")}
}

func platformOptions(service.KeyValue) {}
