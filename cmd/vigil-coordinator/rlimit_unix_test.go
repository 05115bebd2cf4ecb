//go:build unix

package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"syscall"
	"testing"
)

func TestStartSaysHowManyAgentsTheFileLimitAllows(t *testing.T) {
	var log bytes.Buffer
	raiseFileLimit(slog.New(slog.NewTextHandler(&log, nil)))
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("limit=%d raised_from=", r.Max)
	if r.Cur != r.Max || !strings.Contains(log.String(), want) ||
		!strings.Contains(log.String(), fmt.Sprintf("agents_at_most=%d", r.Max-reservedFiles)) {
		t.Errorf("soft limit %d, hard %d; the log says %q, want %q and the agents it allows", r.Cur, r.Max, log.String(), want)
	}
}
