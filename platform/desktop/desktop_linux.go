package desktop

import "github.com/vigil-cc/vigil/platform/x11"

// Open connects to the X display (empty: $DISPLAY).
func Open(display string) (Desktop, error) {
	c, err := x11.Connect(display)
	if err != nil {
		return nil, err
	}
	return c, nil
}
