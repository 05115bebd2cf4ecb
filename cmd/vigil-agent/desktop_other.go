//go:build !linux && !windows

package main

import (
	"fmt"
	"runtime"
)

// openDesktop: the Windows and macOS backends are not written yet.
func openDesktop(display string) (desktop, error) {
	return nil, fmt.Errorf("desktop sensing is not implemented on %s yet", runtime.GOOS)
}
