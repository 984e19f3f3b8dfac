//go:build unix

package cli

import (
	"os"
	"syscall"
)

// reloadSignals make soloist run read its crontab again: SIGHUP, and SIGUSR2
// as supercronic takes it.
var reloadSignals = []os.Signal{syscall.SIGHUP, syscall.SIGUSR2}
