package crontab

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/soloist-dev/soloist/runner"
)

// ExecOptions say how entries run as commands.
type ExecOptions struct {
	Logger *slog.Logger
	// Env is the environment commands start from, before the crontab's
	// variables and Soloist's: normally the runner's own. It is scrubbed
	// before use; see [CommandEnv].
	Env []string
	// Secrets are values no command may see, such as the database password:
	// a variable of Env whose value contains one is dropped.
	Secrets []string
	// KillGrace is how long a command has between SIGTERM and SIGKILL when
	// its timeout passes or the runner stops, and how long processes a
	// finished command left behind have before SIGKILL.
	KillGrace time.Duration
	// LostGrace caps KillGrace when the lease is lost: half the safety margin,
	// so that the command is gone before another runner can take over.
	LostGrace time.Duration
	// KeepBackground lets processes that a command started in the
	// background outlive its run. Off by default: a run's processes end with
	// the run, so that nothing of one fire overlaps the next fire on another
	// server.
	KeepBackground bool
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
		Weight:           e.Weight,
		Hosts:            e.Hosts,
		Run: func(ctx context.Context, fire runner.Fire) error {
			return e.run(ctx, fire, opts)
		},
	}
}

// CommandEnv is the environment a command of entry e gets for fire:
//
//  1. base (the runner's environment) without every SOLOIST_* variable,
//     without MYSQL_PWD, and without any variable whose value is one of
//     secrets or, for a secret of 6 bytes or more, contains it;
//  2. then the crontab's own KEY=VALUE lines above the entry;
//  3. then the fire's SOLOIST_GROUP, SOLOIST_LEASE (the lease SOLOIST_TOKEN
//     belongs to, the one assert_lease checks: the group in leader mode, the
//     job's own lease in balanced mode), SOLOIST_JOB, SOLOIST_TOKEN,
//     SOLOIST_FIRE_TIME (RFC 3339, UTC), SOLOIST_RUN_ID and SOLOIST_OWNER.
//
// Later entries win over earlier ones of the same name. The runner's own
// settings (SOLOIST_DSN, SOLOIST_DSN_FILE and the rest) never reach a command.
func CommandEnv(base []string, secrets []string, e Entry, fire runner.Fire) []string {
	env := make([]string, 0, len(base)+len(e.Env)+7)
	for _, kv := range base {
		if !secretVar(kv, secrets) {
			env = append(env, kv)
		}
	}
	env = append(env, e.Env...)
	return append(env,
		"SOLOIST_GROUP="+fire.Group,
		"SOLOIST_LEASE="+fire.Lease,
		"SOLOIST_JOB="+fire.Job,
		"SOLOIST_TOKEN="+strconv.FormatUint(fire.Token, 10),
		"SOLOIST_FIRE_TIME="+fire.Time.UTC().Format(time.RFC3339),
		"SOLOIST_RUN_ID="+strconv.FormatInt(fire.RunID, 10),
		"SOLOIST_OWNER="+fire.Owner,
	)
}

// secretVar reports whether the variable kv (KEY=VALUE) must not reach a
// command: a Soloist setting, the MySQL client's password variable, or a
// value that holds a secret.
func secretVar(kv string, secrets []string) bool {
	name, value, _ := strings.Cut(kv, "=")
	if strings.HasPrefix(strings.ToUpper(name), "SOLOIST_") || strings.EqualFold(name, "MYSQL_PWD") {
		return true
	}
	for _, s := range secrets {
		if s != "" && (value == s || len(s) >= minSecretMatch && strings.Contains(value, s)) {
			return true
		}
	}
	return false
}

// minSecretMatch is the shortest secret looked for inside longer values: a
// shorter one would match ordinary values such as PATH by chance, so it is
// only dropped where it is the whole value.
const minSecretMatch = 6

// run starts the command with the shell in a process group of its own
// (where the OS has them; see startGroup), logs its output line by line,
// and ends the whole group: when ctx is cancelled (SIGTERM, then SIGKILL
// after the grace period), and when the shell exits and left processes
// behind, unless KeepBackground.
func (e Entry) run(ctx context.Context, fire runner.Fire, opts ExecOptions) error {
	log := opts.Logger.With("job", e.Name, "run_id", fire.RunID)
	cmd := exec.Command(e.Shell, "-c", e.Command)
	cmd.Env = CommandEnv(opts.Env, opts.Secrets, e, fire)
	if e.Input != "" {
		cmd.Stdin = strings.NewReader(e.Input)
	}
	tail := &tailBuffer{max: tailSize}
	stdout := &lineLogger{log: log, stream: "stdout", tail: tail}
	stderr := &lineLogger{log: log, stream: "stderr", tail: tail}
	// The command writes into pipes of our own rather than exec's, so that
	// Wait returns when the shell exits, whoever else still holds them.
	outs, err := newOutputs(cmd, stdout, stderr)
	if err != nil {
		return fmt.Errorf("start %s: %w", e.Shell, err)
	}
	startGroup(cmd)
	if err := cmd.Start(); err != nil {
		outs.abort()
		return fmt.Errorf("start %s: %w", e.Shell, err)
	}
	outs.started()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	select {
	case err = <-done:
		if !opts.KeepBackground {
			// The shell is gone; anything left in its group is the run's
			// background work, which must not outlive the run.
			endGroup(log, cmd.Process, opts.KillGrace, "the command left processes behind")
		}
	case <-ctx.Done():
		grace := opts.KillGrace
		cause := context.Cause(ctx)
		if runner.LeaseLost(cause) && opts.LostGrace > 0 {
			grace = min(grace, opts.LostGrace)
		}
		log.Warn("stopping the command", "cause", cause, "signal", "SIGTERM", "kill_after", grace)
		terminateGroup(cmd.Process)
		t := time.NewTimer(grace)
		select {
		case err = <-done:
		case <-t.C:
			log.Warn("the command outlived its grace period", "signal", "SIGKILL")
			killGroup(cmd.Process)
			err = <-done
		}
		t.Stop()
		endGroup(log, cmd.Process, grace, "processes of the stopped command are left")
	}
	outs.wait(outputDrain)
	stdout.flush()
	stderr.flush()
	fire.SetOutput(tail.String())
	return err
}

// outputDrain is how long output still written by processes that outlive the
// shell (KeepBackground) is read before the run is recorded.
const outputDrain = time.Second

// endGroup ends what is left of the process group of p: SIGTERM, then
// SIGKILL once grace has passed. It returns when the group is gone, or soon
// after the SIGKILL where the OS cannot tell.
func endGroup(log *slog.Logger, p *os.Process, grace time.Duration, why string) {
	if !groupAlive(p) {
		return
	}
	log.Warn(why+"; ending them", "signal", "SIGTERM", "kill_after", grace)
	terminateGroup(p)
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
	deadline := time.NewTimer(grace)
	defer deadline.Stop()
	for groupAlive(p) {
		select {
		case <-poll.C:
		case <-deadline.C:
			log.Warn("processes of the command outlived their grace period", "signal", "SIGKILL")
			killGroup(p)
			return
		}
	}
}

// outputs are the pipes a command writes its stdout and stderr into, each
// copied to its writer by a goroutine that ends when every process holding
// the pipe's write end has closed it, or when wait gives up.
type outputs struct {
	readers, writers []*os.File
	copied           chan struct{}
	pending          int
}

func newOutputs(cmd *exec.Cmd, stdout, stderr io.Writer) (*outputs, error) {
	o := &outputs{copied: make(chan struct{}, 2)}
	for _, w := range []io.Writer{stdout, stderr} {
		r, pw, err := os.Pipe()
		if err != nil {
			o.abort()
			return nil, err
		}
		o.readers, o.writers = append(o.readers, r), append(o.writers, pw)
		go func() {
			_, _ = io.Copy(w, r)
			o.copied <- struct{}{}
		}()
		o.pending++
	}
	cmd.Stdout, cmd.Stderr = o.writers[0], o.writers[1]
	return o, nil
}

// started closes this process's copies of the write ends, which the
// command now holds.
func (o *outputs) started() {
	for _, w := range o.writers {
		w.Close()
	}
}

// abort closes everything; the copying goroutines end.
func (o *outputs) abort() {
	o.started()
	o.wait(0)
}

// wait waits up to d for the copying to reach the end of both pipes, then
// closes the read ends and waits for the goroutines to return.
func (o *outputs) wait(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	for o.pending > 0 {
		select {
		case <-o.copied:
			o.pending--
			continue
		case <-t.C:
		}
		break
	}
	for _, r := range o.readers {
		r.Close()
	}
	for ; o.pending > 0; o.pending-- {
		<-o.copied
	}
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
