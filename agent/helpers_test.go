package agent

import (
	"log/slog"

	"github.com/vigil-cc/vigil/internal/testrig"
)

// newTextLog logs to w at debug level.
func newTextLog(w *testrig.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
