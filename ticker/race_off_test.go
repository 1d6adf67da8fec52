//go:build !race

package ticker

// raceEnabled reports whether the tests run with the race detector.
const raceEnabled = false
