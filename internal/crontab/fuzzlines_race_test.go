//go:build race

package crontab_test

// fuzzLines under the race detector: the first 5,000 of the same seeded
// lines; the full 10^5 run without -race.
const fuzzLines = 5_000
