//go:build !linux && !windows

package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"

	svcmgr "github.com/kardianos/service"
)

const initScript = ""

// supervise: on macOS the helper runs as a LaunchAgent in each session
// (not written yet).
func supervise(context.Context, *slog.Logger, serviceConfig, <-chan struct{}) error {
	return errors.New("supervising session helpers is not supported on this OS yet")
}

func cleanupService(string, bool) error { return nil }

func adoptRegistration(svcmgr.Service) (bool, error) { return false, nil }

func releaseRegistration() (bool, error) { return false, nil }

func serviceLog() io.Writer { return os.Stderr }

func platformOptions(svcmgr.KeyValue) {}

// reportFatal: the error goes to stderr, which the service manager keeps.
func reportFatal(error) {}
