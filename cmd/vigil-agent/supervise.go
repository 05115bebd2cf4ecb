//go:build linux || windows

package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/vigil-cc/vigil/agent/service"
	"github.com/vigil-cc/vigil/platform/sessions"
)

// supervise runs one helper in each interactive desktop session
// (sessions.Find: the X11 sessions in /proc on Linux, the active WTS
// sessions on Windows), as the session's user, each told its session id
// and reporting to the service's socket. A delivery on changed makes it
// look for sessions at once.
func supervise(ctx context.Context, log *slog.Logger, cfg serviceConfig, changed <-chan struct{}) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	var args []string
	if !cfg.mic {
		args = append(args, "--mic=false")
	}
	args = append(args, "--log-level", cfg.logLevel)
	s := &service.Supervisor{
		Find:    sessions.Find,
		Start:   service.HelperCommand(exe, cfg.socket, args, helperOutput()),
		Log:     log,
		Changed: changed,
	}
	return s.Run(ctx)
}
