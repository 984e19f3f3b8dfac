package crontab

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/soloist-dev/soloist/runner"
)

// ExecOptions say how entries run as commands.
type ExecOptions struct {
	Logger *slog.Logger
	// Env is the environment commands start from, before the crontab's
	// variables and Soloist's: normally the runner's own.
	Env []string
	// KillGrace is how long a command has between SIGTERM and SIGKILL when
	// its timeout passes or the runner stops.
	KillGrace time.Duration
	// LostGrace caps KillGrace when the lease is lost: half the safety margin,
	// so that the command is gone before another runner can take over.
	LostGrace time.Duration
}

// tailSize is how much of a command's output the run history keeps.
const tailSize = 4096

// Jobs turns the crontab's entries into runner jobs that run the commands;
// an entry that never fires again has none.
func (ct *Crontab) Jobs(opts ExecOptions) []runner.Job {
	jobs := make([]runner.Job, 0, len(ct.Entries))
	now := time.Now()
	for _, e := range ct.Entries {
		if e.Fires(now) {
			jobs = append(jobs, e.Job(opts))
		}
	}
	return jobs
}

// Job is the runner job that runs the entry's command.
func (e Entry) Job(opts ExecOptions) runner.Job {
	return runner.Job{
		Name:             e.Name,
		Schedule:         e.Schedule,
		Location:         e.Location,
		Timeout:          e.Timeout,
		Concurrency:      e.Concurrency,
		Missed:           e.Missed,
		StartingDeadline: e.StartingDeadline,
		Run: func(ctx context.Context, fire runner.Fire) error {
			return e.run(ctx, fire, opts)
		},
	}
}

// run starts the command in its own process group with the shell, logs its
// output line by line, and ends the whole group when ctx is cancelled:
// SIGTERM, then SIGKILL after the grace period.
func (e Entry) run(ctx context.Context, fire runner.Fire, opts ExecOptions) error {
	log := opts.Logger.With("job", e.Name, "run_id", fire.RunID)
	cmd := exec.Command(e.Shell, "-c", e.Command)
	cmd.Env = append(append(append([]string(nil), opts.Env...), e.Env...),
		"SOLOIST_GROUP="+fire.Group,
		"SOLOIST_JOB="+fire.Job,
		"SOLOIST_TOKEN="+strconv.FormatUint(fire.Token, 10),
		"SOLOIST_FIRE_TIME="+fire.Time.UTC().Format(time.RFC3339),
		"SOLOIST_RUN_ID="+strconv.FormatInt(fire.RunID, 10),
		"SOLOIST_OWNER="+fire.Owner,
	)
	if e.Input != "" {
		cmd.Stdin = strings.NewReader(e.Input)
	}
	tail := &tailBuffer{max: tailSize}
	stdout := &lineLogger{log: log, stream: "stdout", tail: tail}
	stderr := &lineLogger{log: log, stream: "stderr", tail: tail}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// Its own process group, so that stopping it reaches every process it
	// started; and SIGTERM to the shell if this process dies first (a
	// runner killed with SIGKILL), so that it does not run on unowned.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	// After the shell exits, wait at most this long for children it left
	// behind to close its output.
	cmd.WaitDelay = time.Second

	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", e.Shell, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		grace := opts.KillGrace
		cause := context.Cause(ctx)
		if runner.LeaseLost(cause) && opts.LostGrace > 0 {
			grace = min(grace, opts.LostGrace)
		}
		log.Warn("stopping the command", "cause", cause, "signal", "SIGTERM", "kill_after", grace)
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		t := time.NewTimer(grace)
		select {
		case err = <-done:
		case <-t.C:
			log.Warn("the command outlived its grace period", "signal", "SIGKILL")
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			err = <-done
		}
		t.Stop()
	}
	stdout.flush()
	stderr.flush()
	fire.SetOutput(tail.String())
	return err
}

// lineLogger logs what a command writes, one record per line.
type lineLogger struct {
	log    *slog.Logger
	stream string
	tail   *tailBuffer
	buf    []byte
}

// maxLogLine splits longer lines into several records.
const maxLogLine = 8192

func (l *lineLogger) Write(p []byte) (int, error) {
	l.tail.Write(p)
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			if len(l.buf) >= maxLogLine {
				l.emit(l.buf[:maxLogLine])
				l.buf = l.buf[maxLogLine:]
				continue
			}
			return len(p), nil
		}
		l.emit(l.buf[:i])
		l.buf = l.buf[i+1:]
	}
}

func (l *lineLogger) emit(line []byte) {
	l.log.Info("output", "stream", l.stream, "line", strings.ToValidUTF8(strings.TrimRight(string(line), "\r"), "\uFFFD"))
}

func (l *lineLogger) flush() {
	if len(l.buf) > 0 {
		l.emit(l.buf)
		l.buf = nil
	}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

var _ io.Writer = (*tailBuffer)(nil)

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

// String is the tail as valid UTF-8, starting at a whole line when it can.
func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.b
	if len(b) == t.max {
		if i := bytes.IndexByte(b, '\n'); i >= 0 && i < len(b)-1 {
			b = b[i+1:]
		}
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}
