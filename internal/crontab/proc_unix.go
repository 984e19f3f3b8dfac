//go:build unix

package crontab

import (
	"errors"
	"os"
	"syscall"
)

// Process groups on Unix: the shell leads a group of its own, every process
// it starts joins that group unless it moves itself out (setsid, setpgid),
// and a signal to -pgid reaches all of them. A process that leaves the group
// escapes both the stop and the sweep after the shell exits; only the
// service manager's cgroup (systemd KillMode=control-group) still holds it.

// terminateGroup sends SIGTERM to the process group p leads.
func terminateGroup(p *os.Process) { _ = syscall.Kill(-p.Pid, syscall.SIGTERM) }

// killGroup sends SIGKILL to the process group p leads.
func killGroup(p *os.Process) { _ = syscall.Kill(-p.Pid, syscall.SIGKILL) }

// anyInGroup reports whether kill(2) still finds a process in the group p
// led: one that runs, or a zombie that whoever inherited it has not reaped.
func anyInGroup(p *os.Process) bool {
	err := syscall.Kill(-p.Pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
