// Package demo is `make demo`: a throwaway MariaDB, the schema, three
// `soloist run` processes sharing one crontab, a leader killed with SIGKILL,
// the takeover, and the run history showing that no fire ran twice. It needs
// no Docker and cleans up after itself.
package demo

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/soloist-dev/soloist/internal/dbserver"
	"github.com/soloist-dev/soloist/internal/spawn"
)

// Options configure a demo run.
type Options struct {
	Soloist string        // the soloist binary
	Crontab string        // the crontab all three servers load
	TTL     time.Duration // default 3s
	Ticks   int           // runs of the tick job to wait for in each phase; default 3
	Out     io.Writer
}

// server is one `soloist run` process.
type server struct {
	name, owner string
	proc        *spawn.Process
}

// event is a log line of a server that the demo narrates.
type event struct {
	server string
	at     time.Time
	msg    string
	attrs  map[string]any
}

// Run runs the demo.
func Run(ctx context.Context, o Options) (err error) {
	if o.TTL == 0 {
		o.TTL = 3 * time.Second
	}
	if o.Ticks == 0 {
		o.Ticks = 3
	}
	say := func(format string, args ...any) { fmt.Fprintf(o.Out, format+"\n", args...) }
	title := func(s string) { fmt.Fprintf(o.Out, "\n== %s ==\n", s) }

	title("Soloist demo: one crontab on three servers, each fire on exactly one")
	srv, err := dbserver.Start(ctx, dbserver.Options{})
	if err != nil {
		return err
	}
	defer func() {
		srv.Close()
		say("[db]       throwaway server stopped and removed")
	}()
	say("[db]       throwaway %s started on %s", srv.Version, srv.Addr)
	admin, err := sql.Open("mysql", srv.DSN(""))
	if err != nil {
		return err
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE soloist"); err != nil {
		return err
	}
	env := append(os.Environ(), "SOLOIST_DSN="+srv.DSN("soloist"), "SOLOIST_GROUP=demo",
		"SOLOIST_TTL="+o.TTL.String(), "SOLOIST_LOG_FORMAT=json", "SOLOIST_GRACE=2s")
	soloist := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, o.Soloist, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("soloist %s: %w\n%s", strings.Join(args, " "), err, out)
		}
		return string(out), nil
	}
	out, err := soloist("migrate", "up")
	if err != nil {
		return err
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	say("[db]       $ soloist migrate up\n           %s", lines[len(lines)-1])

	ct, err := os.ReadFile(o.Crontab)
	if err != nil {
		return err
	}
	say("[crontab]  %s, loaded by every server:", o.Crontab)
	for _, l := range strings.Split(strings.TrimSpace(string(ct)), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") || strings.HasPrefix(l, "# soloist:") {
			say("           %s", l)
		}
	}

	events := make(chan event, 1000)
	var wg sync.WaitGroup
	servers := map[string]*server{}
	defer func() {
		for _, s := range servers {
			s.proc.Terminate()
		}
		for _, s := range servers {
			s.proc.Await(15 * time.Second)
		}
		wg.Wait()
	}()
	title("three servers start `soloist run --crontab " + filepath.Base(o.Crontab) + "`")
	for _, name := range []string{"server-a", "server-b", "server-c"} {
		s, err := startServer(o.Soloist, name, env, o.Crontab, events, &wg)
		if err != nil {
			return err
		}
		servers[name] = s
		say("[%s] started, owner %s", name, s.owner)
	}

	leader, token, _, err := waitPhase(ctx, say, events, "", o.Ticks, 30*time.Second)
	if err != nil {
		return err
	}
	title("$ soloist status")
	if out, err = soloist("status"); err != nil {
		return err
	}
	fmt.Fprint(o.Out, out)

	title(fmt.Sprintf("kill -9 %s, the leader (token %d)", leader, token))
	killed := time.Now()
	servers[leader].proc.Kill()
	delete(servers, leader)
	next, _, ledAt, err := waitPhase(ctx, say, events, leader, o.Ticks, 30*time.Second)
	if err != nil {
		return err
	}
	say("           %s took over %.1fs after the kill: the dead leader's lease (TTL %v) had to expire first",
		next, ledAt.Sub(killed).Seconds(), o.TTL)

	title("$ soloist runs --limit 12")
	if out, err = soloist("runs", "--limit", "12"); err != nil {
		return err
	}
	fmt.Fprint(o.Out, out)
	if out, err = soloist("runs", "--json", "--limit", "10000"); err != nil {
		return err
	}
	fires, dups, err := checkOnce([]byte(out))
	if err != nil {
		return err
	}
	title(fmt.Sprintf("%d fires recorded, %d ran twice: each fire ran on exactly one server", fires, dups))
	if dups > 0 {
		return fmt.Errorf("%d fires ran twice", dups)
	}
	return nil
}

func startServer(bin, name string, env []string, ct string, events chan<- event, wg *sync.WaitGroup) (*server, error) {
	s := &server{name: name, owner: "127.0.0.1/" + name}
	// The log goes through a pipe that closes when the process exits, so
	// the reader below ends with it.
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	s.proc, err = spawn.Runner(bin, spawn.Run{Crontab: ct, Owner: s.owner}, env, w)
	w.Close()
	if err != nil {
		r.Close()
		return nil, err
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer r.Close()
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			var rec map[string]any
			if json.Unmarshal(sc.Bytes(), &rec) != nil {
				continue
			}
			msg, _ := rec["msg"].(string)
			select {
			case events <- event{server: name, at: time.Now(), msg: msg, attrs: rec}:
			default:
			}
		}
	}()
	return s, nil
}

// waitPhase narrates events until a server other than not leads and the tick
// job ran ticks times under it. It returns the leader, its token and when it
// began to lead.
func waitPhase(ctx context.Context, say func(string, ...any), events <-chan event, not string, ticks int, within time.Duration) (string, uint64, time.Time, error) {
	deadline := time.After(within)
	leader, token, n, since := "", uint64(0), 0, time.Time{}
	for {
		select {
		case <-ctx.Done():
			return "", 0, since, ctx.Err()
		case <-deadline:
			return "", 0, since, fmt.Errorf("no server led and ran %d ticks within %v", ticks, within)
		case e := <-events:
			switch e.msg {
			case "leading":
				if e.server != not {
					leader, token, n, since = e.server, uint64(e.attrs["token"].(float64)), 0, e.at
					say("[%s] leads with token %d", e.server, token)
				}
			case "stopped leading":
				say("[%s] stopped leading: %v", e.server, e.attrs["cause"])
			case "output":
				say("[%s] %s", e.server, e.attrs["line"])
				if e.server == leader && e.attrs["job"] == "tick" {
					n++
				}
			case "run finished":
				if o, _ := e.attrs["outcome"].(string); o != "succeeded" {
					say("[%s] run of %v: %s %v", e.server, e.attrs["job"], o, e.attrs["message"])
				}
			}
			if leader != "" && n >= ticks {
				return leader, token, since, nil
			}
		}
	}
}

// checkOnce counts the fires in `soloist runs --json` and how many of them
// appear twice.
func checkOnce(js []byte) (fires, dups int, err error) {
	var runs []struct {
		Job  string    `json:"job"`
		Fire time.Time `json:"fire_time"`
	}
	if err := json.NewDecoder(bytes.NewReader(js)).Decode(&runs); err != nil {
		return 0, 0, err
	}
	seen := map[string]bool{}
	for _, r := range runs {
		k := r.Job + r.Fire.String()
		if seen[k] {
			dups++
		}
		seen[k] = true
	}
	return len(runs), dups, nil
}
