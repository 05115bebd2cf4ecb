// Package e2etest is the harness shared by the agent's acceptance tests
// (cmd/vigil-agent/acceptance) and the end-to-end scenarios (e2e): a real
// coordinator in process on loopback and its API, the agent binary built
// once, the agent as a subprocess, audit and timing helpers.
package e2etest
