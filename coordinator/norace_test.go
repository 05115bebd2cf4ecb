//go:build !race

package coordinator_test

const raceBuild = false
