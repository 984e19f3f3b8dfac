// Command soloist runs a crontab's jobs on exactly one server of many, and
// installs and inspects the database schema that decides which one. See
// `soloist --help` and the docs/ directory.
package main

import (
	"context"
	"os"

	_ "time/tzdata" // CRON_TZ works on hosts without /usr/share/zoneinfo

	"github.com/soloist-dev/soloist/internal/cli"
)

func main() {
	os.Exit(cli.Main(context.Background(), os.Args[1:], cli.DefaultIO()))
}
