package main

// Where the system service keeps its files on macOS.
const (
	defaultConfigDir = "/Library/Application Support/Vigil"
	serviceStateDir  = "/Library/Application Support/Vigil/state"
	defaultSocket    = "/var/run/vigil/agent.sock"
)
