//go:build linux && !race

package acceptance

const raceBuild = false
