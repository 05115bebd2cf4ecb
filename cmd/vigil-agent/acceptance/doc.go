// Package acceptance holds the acceptance tests of `vigil-agent session`:
// the real agent binary, each test on its own Xvfb display, PulseAudio
// daemon, session bus and Chromium (internal/testrig), against a real
// coordinator started in the test process on loopback. They check the
// timing of warnings and logouts end to end, a coordinator restart, and
// that nothing but the protocol's allowed fields leaves the workstation.
// BenchmarkAgentFootprint measures the agent's CPU, memory and bytes on
// the wire.
//
// The tests are Linux-only; there is no non-test code.
package acceptance
