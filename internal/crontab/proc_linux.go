package crontab

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
)

// startGroup makes the shell lead a process group of its own, and has the
// kernel send it SIGTERM if the runner dies first (a runner killed with
// SIGKILL). That signal reaches the shell only, not the processes it
// started: after a SIGKILL of the runner, only the service manager can end
// them (systemd's default KillMode=control-group does; see docs/security.md).
func startGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}

// groupAlive reports whether a live process of the group p led is left.
// Zombies do not count: the orphans of a command are reaped by init, which
// may take its time, and a zombie runs nothing.
func groupAlive(p *os.Process) bool {
	if !anyInGroup(p) {
		return false
	}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	if stats == nil {
		return true // no /proc: trust kill(2)
	}
	pgid := []byte(strconv.Itoa(p.Pid))
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // it has just ended
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		fields := bytes.Fields(b[i+1:])
		if len(fields) > 2 && bytes.Equal(fields[2], pgid) && !bytes.Equal(fields[0], []byte("Z")) {
			return true
		}
	}
	return false
}
