package main

import "github.com/vigil-cc/vigil/platform/win32"

// openDesktop opens this process's Windows session; display (an X11 notion)
// is ignored: a process sees only the session it runs in.
func openDesktop(display string) (desktop, error) {
	d, err := win32.Open()
	if err != nil {
		return nil, err
	}
	return d, nil
}
