package main

// Where the system service keeps its files on Linux.
const (
	defaultConfigDir = "/etc/vigil"
	serviceStateDir  = "/var/lib/vigil"
	defaultSocket    = "/run/vigil/agent.sock"
)
