// Package spawn builds Soloist's binaries and starts `soloist run`
// processes, for every harness that needs real processes: the demo, the
// benchmark's failover runs, the fault suite and the CLI's tests. It links
// no testing package, so the demo and benchmark binaries may use it.
package spawn

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// SoloistPackage is the import path of the soloist command.
const SoloistPackage = "github.com/soloist-dev/soloist/cmd/soloist"

// Build runs `go build` of pkg (an import path of this module) with flags
// into dir, and returns the binary's path: dir joined with the package's
// last element. The working directory must be inside the module.
func Build(dir, pkg string, flags ...string) (string, error) {
	bin := filepath.Join(dir, path.Base(pkg))
	args := append(append([]string{"build"}, flags...), "-o", bin, pkg)
	if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, out)
	}
	return bin, nil
}

// Run is the command line of one `soloist run`. Zero fields are left out,
// so the binary's defaults apply.
type Run struct {
	Crontab   string
	Group     string
	Owner     string
	TTL       time.Duration
	Grace     time.Duration
	KillGrace time.Duration
	LogFormat string // text or json
	LogLevel  string
	Extra     []string // further arguments, appended last
}

// Args are the arguments after the binary's name.
func (r Run) Args() []string {
	args := []string{"run"}
	add := func(flag, value string) {
		if value != "" {
			args = append(args, flag, value)
		}
	}
	dur := func(d time.Duration) string {
		if d == 0 {
			return ""
		}
		return d.String()
	}
	add("--crontab", r.Crontab)
	add("--group", r.Group)
	add("--owner", r.Owner)
	add("--ttl", dur(r.TTL))
	add("--grace", dur(r.Grace))
	add("--kill-grace", dur(r.KillGrace))
	add("--log-format", r.LogFormat)
	add("--log-level", r.LogLevel)
	return append(args, r.Extra...)
}

// Runner starts `bin run` as r says, with env as its whole environment. Its
// stdout and stderr go to out; with out nil they are kept for Output.
func Runner(bin string, r Run, env []string, out io.Writer) (*Process, error) {
	return Start(bin, r.Args(), env, out)
}

// Process is a started process. A goroutine of its own waits for it, so
// Done is closed as soon as it exits.
type Process struct {
	cmd  *exec.Cmd
	done chan struct{}
	code int // the exit code, -1 for a signal; set before done is closed

	mu  sync.Mutex
	out *bytes.Buffer // nil when the caller took the output
}

// Start starts bin with args and env (its whole environment; nil: this
// process's). Its stdout and stderr go to out; with out nil they are kept
// for Output.
func Start(bin string, args, env []string, out io.Writer) (*Process, error) {
	p := &Process{cmd: exec.Command(bin, args...), done: make(chan struct{})}
	p.cmd.Env = env
	if out == nil {
		p.out = &bytes.Buffer{}
		out = lockedWriter{p}
	}
	p.cmd.Stdout, p.cmd.Stderr = out, out
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		err := p.cmd.Wait()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			p.code = ee.ExitCode()
		}
		close(p.done)
	}()
	return p, nil
}

type lockedWriter struct{ p *Process }

func (w lockedWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.out.Write(b)
}

// Output is what the process has written so far, when Start kept it.
func (p *Process) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.out == nil {
		return ""
	}
	return p.out.String()
}

// Args is the process's command line, the binary first.
func (p *Process) Args() []string { return p.cmd.Args }

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// ExitCode is the exit code once Done is closed: -1 if a signal ended it.
func (p *Process) ExitCode() int {
	<-p.done
	return p.code
}

// Signal sends sig to the process (not to its children).
func (p *Process) Signal(sig syscall.Signal) error { return p.cmd.Process.Signal(sig) }

// Kill kills the process and waits for it to exit.
func (p *Process) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Stop asks the process to end (SIGCONT, in case it is stopped, then
// SIGTERM), and kills it if it has not exited within grace. It returns once
// the process has exited.
func (p *Process) Stop(grace time.Duration) {
	p.Terminate()
	p.Await(grace)
}

// Terminate sends SIGCONT, in case the process is stopped, then SIGTERM,
// without waiting: several processes can be told to stop at once.
func (p *Process) Terminate() {
	_ = p.cmd.Process.Signal(syscall.SIGCONT)
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
}

// Await waits up to grace for the process to exit, then kills it; it
// returns once the process has exited.
func (p *Process) Await(grace time.Duration) {
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		p.Kill()
	}
}
