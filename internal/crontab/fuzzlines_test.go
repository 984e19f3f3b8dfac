//go:build !race

package crontab_test

// fuzzLines is how many generated lines TestFuzzedLinesReadAsSupercronicReadsThem
// compares: 10^5. The race detector makes cronexpr's regular expressions
// some 20 times slower and finds nothing in pure parsing, so a -race build
// compares fewer; `make test` also runs the full
// count without it.
const fuzzLines = 100_000
