//go:build !linux && !windows && !darwin

package main

// Where the system service keeps its files elsewhere.
const (
	defaultConfigDir = "/etc/vigil"
	serviceStateDir  = "/var/lib/vigil"
	defaultSocket    = "/var/run/vigil/agent.sock"
)
