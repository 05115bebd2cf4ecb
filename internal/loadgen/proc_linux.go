package loadgen

import (
	"fmt"
	"os"
	"time"
)

func readProc(pid int) (Proc, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return Proc{}, fmt.Errorf("reading the coordinator's CPU time: %w", err)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Proc{}, fmt.Errorf("reading the coordinator's memory: %w", err)
	}
	p := Proc{At: time.Now()}
	if p.Ticks, err = parseStat(string(stat)); err != nil {
		return Proc{}, err
	}
	if p.RSS, err = parseRSS(string(status)); err != nil {
		return Proc{}, err
	}
	return p, nil
}
