//go:build race

package e2e_test

// raceEnabled builds the outpost binary with the race detector when the
// tests themselves run with it.
const raceEnabled = true
