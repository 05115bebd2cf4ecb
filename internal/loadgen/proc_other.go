//go:build !linux

package loadgen

import "errors"

func readProc(int) (Proc, error) {
	return Proc{}, errors.New("reading a process's CPU and memory needs Linux's /proc")
}
