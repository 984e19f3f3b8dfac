package bench

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/soloist-dev/soloist/internal/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// The comparison in docs/benchmarks.md is only fair if each alternative is a
// working lease: one holder at a time, renewals that keep it, a takeover only
// after it lapses (or, for GET_LOCK, after its session ends), and a release
// that lets the next contender in at once.
func TestAlternativesAreLeases(t *testing.T) {
	for _, kind := range []string{"shedlock", "quartz", "getlock"} {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			d := dbtest.NewDatabase(t)
			cfg := d.Config.Clone()
			cfg.ClientFoundRows = true // as the benchmark connects
			const ttl = 600 * time.Millisecond
			open := func(owner string) (lease, *sql.DB) {
				// A pool per owner, so that closing it ends the session.
				db, err := sql.Open("mysql", cfg.FormatDSN())
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				l, err := newLease(kind, "bench-test", owner, ttl, db)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { l.close() })
				if err := l.setup(ctx, db); err != nil {
					t.Fatalf("%s setup: %v", l.name(), err)
				}
				return l, db
			}
			a, _ := open("node-a")
			b, bPool := open("node-b")
			mustPoll := func(l lease, want bool, when string) {
				t.Helper()
				got, err := l.poll(ctx)
				if err != nil {
					t.Fatalf("%s poll %s: %v", l.name(), when, err)
				}
				if got != want {
					t.Fatalf("%s poll %s: holds = %v, want %v", l.name(), when, got, want)
				}
			}

			mustPoll(a, true, "of a new lock")
			mustPoll(b, false, "while another holds it")
			if ok, err := a.renew(ctx); err != nil || !ok {
				t.Fatalf("%s renew by the holder = %v, %v; want true", a.name(), ok, err)
			}
			mustPoll(b, false, "after the holder renewed")

			if err := a.release(ctx); err != nil {
				t.Fatalf("%s release: %v", a.name(), err)
			}
			mustPoll(b, true, "right after a release")
			mustPoll(a, false, "after the other took it")

			if kind == "getlock" {
				// No expiry: the lock lives as long as the holder's session.
				b.close()
				bPool.Close()
				deadline := time.Now().Add(2 * time.Second)
				for {
					ok, err := a.poll(ctx)
					if err != nil {
						t.Fatal(err)
					}
					if ok {
						return
					}
					if time.Now().After(deadline) {
						t.Fatal("GET_LOCK: still held 2s after the holder's session ended")
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
			time.Sleep(ttl + 200*time.Millisecond) // b stops renewing
			mustPoll(a, true, "after the holder stopped renewing for a TTL")
			if ok, err := b.renew(ctx); err != nil || ok {
				t.Fatalf("%s renew by the replaced holder = %v, %v; want false", b.name(), ok, err)
			}
		})
	}
}

func TestSeriesQuantile(t *testing.T) {
	s := Series{}
	for i := 100; i >= 1; i-- { // unsorted on purpose
		s.Times = append(s.Times, time.Duration(i)*time.Millisecond)
	}
	for q, want := range map[float64]time.Duration{0.5: 50 * time.Millisecond, 0.99: 99 * time.Millisecond, 1: 100 * time.Millisecond} {
		if got := s.quantile(q); got != want {
			t.Errorf("quantile(%v) = %v, want %v", q, got, want)
		}
	}
	if s.Times[0] != 100*time.Millisecond {
		t.Error("quantile sorted the caller's slice")
	}
	if got := (Series{}).quantile(0.99); got != 0 {
		t.Errorf("quantile of no times = %v, want 0", got)
	}
}

func TestReportSaysWhichTargetsWereMissed(t *testing.T) {
	us := func(n int) time.Duration { return time.Duration(n) * time.Microsecond }
	r := &Report{Micro: &MicroResult{
		SelectOne: Latency{P50: us(100)},
		UpdatePK:  Latency{P50: us(300)},
		Poll:      map[string]Latency{"Soloist": {P50: us(200)}},
		Renew:     map[string]Latency{"Soloist": {P50: us(330)}},
	}}
	md := r.Markdown()
	want := "the poll is 2.00× of `SELECT 1` (target of 1.3× missed), the renewal 1.10× of the `UPDATE` (target met)"
	if !strings.Contains(md, want) {
		t.Errorf("the report does not say %q:\n%s", want, md)
	}
}
