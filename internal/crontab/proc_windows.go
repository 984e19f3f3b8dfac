package crontab

import (
	"os"
	"os/exec"
	"syscall"
)

// Windows has neither process groups that a signal reaches nor a
// parent-death signal. Stopping a command there ends the shell process only
// (TerminateProcess, with no grace period: Windows has no SIGTERM), and
// processes it started run on; nothing is swept after the shell exits, and a
// runner that dies leaves its commands running. Ending a whole tree would
// need a job object, which Soloist does not create. Run Soloist on Linux
// where one fire must never overlap the next.

// startGroup gives the shell a console process group of its own, so that a
// Ctrl+C meant for the runner does not reach it.
func startGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{CreationFlags: syscall.CREATE_NEW_PROCESS_GROUP}
}

// terminateGroup ends the shell process; see above.
func terminateGroup(p *os.Process) { _ = p.Kill() }

// killGroup ends the shell process; see above.
func killGroup(p *os.Process) { _ = p.Kill() }

// groupAlive is false: Windows cannot tell what the shell left behind.
func groupAlive(*os.Process) bool { return false }
