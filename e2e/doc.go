// Package e2e holds Vigil's end-to-end scenarios: the seed's behaviour,
// one test per line, each against a real coordinator, the real vigil-agent
// binary on its own Xvfb display, a real Chromium window showing the
// reference Agent Desk (signed in as the agent), real XTEST input and a
// PulseAudio microphone; one user on two workstations (two displays, two
// agents) and a coordinator killed with SIGKILL (issue #15); and a test of
// `scripts/run.sh`, the README's run command, on a machine without a
// display. The tests are Linux-only.
package e2e
