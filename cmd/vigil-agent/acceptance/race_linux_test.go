//go:build linux && race

package acceptance

// raceBuild: the agent the tests run is built with -race too when the
// tests are.
const raceBuild = true
