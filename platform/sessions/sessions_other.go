//go:build !linux

package sessions

import "errors"

// Find is not implemented here yet (Windows uses WTSEnumerateSessions in
// the service itself; macOS runs the helper as a LaunchAgent).
func Find() ([]Session, error) {
	return nil, errors.New("finding desktop sessions is not supported on this OS")
}
