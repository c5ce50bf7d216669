//go:build race

package dataset

// raceEnabled says the race detector is on, which multiplies memory use.
const raceEnabled = true
