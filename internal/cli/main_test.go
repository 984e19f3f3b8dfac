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
	"github.com/soloist-dev/soloist/internal/spawn"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

var build struct {
	once sync.Once
	path string
	err  error
}

// binary builds cmd/soloist once per test run, as a user would get it.
func binary(t testing.TB) string {
	t.Helper()
	build.once.Do(func() {
		dir, err := os.MkdirTemp("", "soloist-bin-")
		if err != nil {
			build.err = err
			return
		}
		dbtest.AtExit(func() { os.RemoveAll(dir) })
		build.path, build.err = spawn.Build(dir, spawn.SoloistPackage,
			"-race", "-ldflags", "-X github.com/soloist-dev/soloist/internal/cli.Version=v0.0.0-test")
	})
	if build.err != nil {
		t.Fatal(build.err)
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
type process struct{ *spawn.Process }

// log is what the process has logged so far.
func (p *process) log() string { return p.Output() }

// start runs the binary in the background; the test's end stops it.
func start(t testing.TB, env []string, args ...string) *process {
	t.Helper()
	sp, err := spawn.Start(binary(t), args, append(cleanEnv(), env...), nil)
	if err != nil {
		t.Fatal(err)
	}
	p := &process{sp}
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("log of %s:\n%s", strings.Join(p.Args(), " "), p.log())
		}
	})
	return p
}

// stop sends sig and waits up to d for the process to exit, returning its
// exit code.
func (p *process) stop(t testing.TB, sig syscall.Signal, d time.Duration) int {
	t.Helper()
	_ = p.Signal(sig)
	select {
	case <-p.Done():
		return p.ExitCode()
	case <-time.After(d):
		t.Fatalf("%s did not exit within %v of %v", p.Args()[1], d, sig)
		return -1
	}
}

// waitLog waits until the process has logged s.
func (p *process) waitLog(t testing.TB, s string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !strings.Contains(p.log(), s) {
		select {
		case <-p.Done():
			t.Fatalf("%s exited (code %d) before logging %q", p.Args()[1], p.ExitCode(), s)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not log %q within %v", p.Args()[1], s, d)
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
