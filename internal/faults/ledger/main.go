// Command ledger is the job the fault tests put in their crontabs: see
// package internal/ledger.
package main

import (
	"os"

	"github.com/soloist-dev/soloist/internal/ledger"
)

func main() { os.Exit(ledger.Main(os.Args[1:])) }
