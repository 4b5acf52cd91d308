//go:build !race

package memory_test

// raceEnabled reports whether the race detector is on: the heavy tests
// shrink under it.
const raceEnabled = false
