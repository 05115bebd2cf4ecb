//go:build !windows

package main

import "log/slog"

// runSCM: only Windows services talk to their manager themselves
// (scm_windows.go); elsewhere kardianos/service runs the program.
func runSCM(*program, chan<- struct{}, *slog.Logger) (bool, error) { return false, nil }
