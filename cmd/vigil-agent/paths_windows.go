package main

import (
	"os"
	"path/filepath"
)

func programData() string {
	if d := os.Getenv("ProgramData"); d != "" {
		return d
	}
	return `C:\ProgramData`
}

// Where the system service keeps its files on Windows.
var (
	defaultConfigDir = filepath.Join(programData(), "Vigil")
	serviceStateDir  = filepath.Join(programData(), "Vigil", "state")
	defaultSocket    = filepath.Join(programData(), "Vigil", "agent.sock")
)
