package main

import "github.com/vigil-cc/vigil/platform/x11"

// openDesktop connects to the X display (empty: $DISPLAY).
func openDesktop(display string) (desktop, error) {
	c, err := x11.Connect(display)
	if err != nil {
		return nil, err
	}
	return c, nil
}
