// Package testrig starts real desktop components for tests: an Xvfb display
// with openbox, a private PulseAudio daemon with a null sink, Chromium on a
// display, and a private D-Bus session bus with a recording notification
// server. Every call starts its own instance (own display number, own
// runtime directories), so parallel tests and test packages never share an
// input clock or an audio server, and t.Cleanup stops what was started.
//
// Missing binaries skip the test, except when CI=true or VIGIL_REQUIRE_RIG=1,
// where they fail it (see Require).
//
// The rig is Linux-only; on other systems the package holds only what any
// test uses: Eventually (and Poll) to wait on a condition, and Buffer.
package testrig
