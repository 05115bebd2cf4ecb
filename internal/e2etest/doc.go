// Package e2etest is the harness shared by the agent's acceptance tests
// (cmd/vigil-agent/acceptance), the end-to-end scenarios (e2e) and the
// agent's doctor tests (cmd/vigil-agent): a real coordinator in process on
// loopback and its API as the admin (Coord), the agent binary built once
// (Builder), the agent as a subprocess (RunAgent), a whole rig — display,
// Chromium showing the Agent Desk, microphone, session bus, coordinator and
// live agent (NewRig) — and audit and timing helpers.
package e2etest
