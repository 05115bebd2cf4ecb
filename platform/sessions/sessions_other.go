//go:build !linux && !windows

package sessions

import "errors"

// Find is not implemented here yet (macOS runs the helper as a
// LaunchAgent).
func Find() ([]Session, error) {
	return nil, errors.New("finding desktop sessions is not supported on this OS")
}

// Own: the helper is given its session id on this OS.
func Own() (string, error) {
	return "", errors.New("this OS does not name the desktop session")
}
