package spawn_test

import (
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/soloist-dev/soloist/internal/spawn"
)

func TestRunArgsLeaveOutWhatIsNotSet(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  spawn.Run
		want []string
	}{
		{"NothingSet", spawn.Run{}, []string{"run"}},
		{"EverySetting", spawn.Run{Crontab: "c", Group: "g", Owner: "o", TTL: 3 * time.Second, Grace: time.Second,
			KillGrace: 2 * time.Second, LogFormat: "json", LogLevel: "warn", Extra: []string{"--metrics", ":0"}},
			[]string{"run", "--crontab", "c", "--group", "g", "--owner", "o", "--ttl", "3s", "--grace", "1s",
				"--kill-grace", "2s", "--log-format", "json", "--log-level", "warn", "--metrics", ":0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.run.Args(); !slices.Equal(got, tc.want) {
				t.Fatalf("Args() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestStartKeepsTheOutputAndTheExitCode(t *testing.T) {
	p, err := spawn.Start("/bin/sh", []string{"-c", "echo out; echo err >&2; exit 3"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if code := p.ExitCode(); code != 3 {
		t.Fatalf("exit code %d, want 3", code)
	}
	if out := p.Output(); !strings.Contains(out, "out\n") || !strings.Contains(out, "err\n") {
		t.Fatalf("output %q, want both streams", out)
	}
}

func TestStopKillsAProcessThatIgnoresSIGTERM(t *testing.T) {
	p, err := spawn.Start("/bin/sh", []string{"-c", "trap '' TERM; echo ready; while :; do sleep 0.05; done"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(p.Output(), "ready") { // the trap is set
		select {
		case <-p.Done():
			t.Fatalf("exited early: %s", p.Output())
		case <-time.After(10 * time.Millisecond):
		}
	}
	p.Stop(200 * time.Millisecond)
	select {
	case <-p.Done():
	default:
		t.Fatal("Stop returned before the process exited")
	}
	if code := p.ExitCode(); code != -1 {
		t.Fatalf("exit code %d, want -1 (killed by a signal)", code)
	}
}

func TestStopEndsAProcessThatHandlesSIGTERM(t *testing.T) {
	p, err := spawn.Start("/bin/sh", []string{"-c", "trap 'exit 7' TERM; echo ready; while :; do sleep 0.05; done"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(p.Output(), "ready") {
		time.Sleep(10 * time.Millisecond)
	}
	_ = p.Signal(syscall.SIGSTOP) // Stop must wake a stopped process to let it handle SIGTERM
	p.Stop(time.Minute)
	if code := p.ExitCode(); code != 7 {
		t.Fatalf("exit code %d, want 7 from the TERM trap", code)
	}
}

func TestBuildNamesTheBinaryAfterThePackage(t *testing.T) {
	bin, err := spawn.Build(t.TempDir(), "github.com/soloist-dev/soloist/internal/faults/ledger")
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(bin); err != nil || fi.Mode()&0o111 == 0 || !strings.HasSuffix(bin, "/ledger") {
		t.Fatalf("built %s (%v, %v), want an executable named ledger", bin, fi, err)
	}
	if _, err := spawn.Build(t.TempDir(), "github.com/soloist-dev/soloist/no/such/package"); err == nil ||
		!strings.Contains(err.Error(), "go build github.com/soloist-dev/soloist/no/such/package") {
		t.Fatalf("Build of a missing package: %v, want an error naming it", err)
	}
}
