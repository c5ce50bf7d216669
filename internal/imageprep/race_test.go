//go:build race

package imageprep

// raceEnabled says the race detector is on, under which some decoders
// allocate more.
const raceEnabled = true
