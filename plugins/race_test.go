//go:build race

package plugins

// raceEnabled: the race detector slows the host side of a plugin start
// several times; the soak test runs fewer cycles under it.
const raceEnabled = true
