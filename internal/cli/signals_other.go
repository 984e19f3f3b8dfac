//go:build !unix

package cli

import (
	"os"
	"syscall"
)

// reloadSignals: Windows has no SIGUSR2; Go delivers SIGHUP only on Unix, so
// there a crontab is reloaded by restarting soloist run.
var reloadSignals = []os.Signal{syscall.SIGHUP}
