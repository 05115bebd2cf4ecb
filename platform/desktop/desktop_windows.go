package desktop

import "github.com/vigil-cc/vigil/platform/win32"

// Open opens this process's Windows session; display (an X11 notion) is
// ignored: a process sees only the session it runs in.
func Open(string) (Desktop, error) {
	d, err := win32.Open()
	if err != nil {
		return nil, err
	}
	return d, nil
}
