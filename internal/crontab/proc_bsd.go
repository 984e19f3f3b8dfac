//go:build unix && !linux

package crontab

import (
	"os"
	"os/exec"
	"syscall"
)

// startGroup makes the shell lead a process group of its own. These systems
// (macOS, the BSDs) have no parent-death signal: when the runner is killed
// with SIGKILL, its commands run on until the service manager ends them
// (launchd, rc.d) or they finish.
func startGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// groupAlive reports whether any process of the group p led is left. A
// zombie counts until whoever inherited it reaps it.
func groupAlive(p *os.Process) bool { return anyInGroup(p) }
