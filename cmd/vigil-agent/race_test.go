//go:build race

package main

// raceBuild: the agent binary the acceptance tests run is built with -race
// too when the tests are.
const raceBuild = true
