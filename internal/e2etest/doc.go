// Package e2etest is the harness shared by the agent's acceptance tests
// (cmd/vigil-agent/acceptance), the end-to-end scenarios (e2e) and the
// agent's doctor tests (cmd/vigil-agent): a real coordinator on loopback, in
// process or as a process to kill, and its API as the admin (Coord), the
// binaries built once (Builder), the agent as a subprocess (RunAgent), on a
// host name of its own if asked (OnHost), a whole rig — display, Chromium
// showing the Agent Desk, microphone, session bus, coordinator and live
// agent (NewRig), and more workstations for the same user (AddSeat) —
// audit and timing helpers, a recording proxy
// between agent and coordinator (Recorder, with the WebSocket frames it
// saw), and the footprint benchmarks' /proc readings (MeasureFootprint).
package e2etest
