//go:build !linux && !windows

package desktop

import (
	"fmt"
	"runtime"
)

// Open: the macOS backend is not written yet.
func Open(string) (Desktop, error) {
	return nil, fmt.Errorf("desktop sensing is not implemented on %s yet", runtime.GOOS)
}
