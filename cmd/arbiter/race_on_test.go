//go:build race

package main

// raceEnabled makes the end-to-end tests build the binary with the race detector too.
const raceEnabled = true
