package cli_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/soloist-dev/soloist/internal/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

var build struct {
	once sync.Once
	path string
	err  error
	dir  string
}

// binary builds cmd/soloist once per test run, as a user would get it.
func binary(t testing.TB) string {
	t.Helper()
	build.once.Do(func() {
		build.dir, build.err = os.MkdirTemp("", "soloist-bin-")
		if build.err != nil {
			return
		}
		dbtest.AtExit(func() { os.RemoveAll(build.dir) })
		build.path = filepath.Join(build.dir, "soloist")
		cmd := exec.Command("go", "build", "-race", "-ldflags", "-X github.com/soloist-dev/soloist/internal/cli.Version=v0.0.0-test",
			"-o", build.path, "github.com/soloist-dev/soloist/cmd/soloist")
		out, err := cmd.CombinedOutput()
		if err != nil {
			build.err = err
			build.path = string(out)
		}
	})
	if build.err != nil {
		t.Fatalf("go build: %v\n%s", build.err, build.path)
	}
	return build.path
}

// result is what a finished command did.
type result struct {
	code           int
	stdout, stderr string
}

// soloistCmd runs the binary with args and env (KEY=VALUE) to completion.
func soloistCmd(t testing.TB, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), args...)
	cmd.Env = append(cleanEnv(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("soloist %s: %v", strings.Join(args, " "), err)
		}
		code = ee.ExitCode()
	}
	return result{code, stdout.String(), stderr.String()}
}

// cleanEnv is the test process's environment without SOLOIST_ variables.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SOLOIST_") {
			env = append(env, kv)
		}
	}
	return env
}

// process is a soloist command running in the background.
type process struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	stderr bytes.Buffer
	done   chan struct{}
	code   int
}

func (p *process) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.Write(b)
}

// log is what the process has logged so far.
func (p *process) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// start runs the binary in the background; the test's end stops it.
func start(t testing.TB, env []string, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(binary(t), args...), done: make(chan struct{})}
	p.cmd.Env = append(cleanEnv(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := p.cmd.Wait()
		if ee, ok := err.(*exec.ExitError); ok {
			p.code = ee.ExitCode()
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("log of %s:\n%s", strings.Join(p.cmd.Args, " "), p.log())
		}
	})
	return p
}

// signal sends sig and waits up to d for the process to exit, returning its
// exit code.
func (p *process) stop(t testing.TB, sig syscall.Signal, d time.Duration) int {
	t.Helper()
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
		return p.code
	case <-time.After(d):
		t.Fatalf("%s did not exit within %v of %v", p.cmd.Args[1], d, sig)
		return -1
	}
}

// waitLog waits until the process has logged s.
func (p *process) waitLog(t testing.TB, s string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !strings.Contains(p.log(), s) {
		select {
		case <-p.done:
			t.Fatalf("%s exited (code %d) before logging %q", p.cmd.Args[1], p.code, s)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not log %q within %v", p.cmd.Args[1], s, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// writeFile writes a file in the test's temporary directory.
func writeFile(t testing.TB, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
