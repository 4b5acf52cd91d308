//go:build race

package halttest

// raceEnabled reports whether the race detector is on (allocation counts
// are not exact under it).
const raceEnabled = true
