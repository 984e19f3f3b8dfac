package bench

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/soloist-dev/soloist/internal/store"
)

// Latency is the distribution of one call's round trips.
type Latency struct {
	Name     string
	P50, P99 time.Duration
	N        int
}

// sample is a statement measured in turn with the others.
type sample struct {
	name  string
	write bool // measured in the phase of writes
	floor bool // one of floorProcedures
	run   func(ctx context.Context) error
	d     []time.Duration
}

func (s *sample) latency() Latency {
	d := slices.Clone(s.d)
	slices.Sort(d)
	return Latency{Name: s.name, P50: d[len(d)/2], P99: d[len(d)*99/100], N: len(d)}
}

// queryAll runs a prepared statement and reads every result, as a procedure call needs.
func queryAll(ctx context.Context, st *sql.Stmt, args ...any) error {
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return err
	}
	return store.CloseRows(rows)
}

// MicroResult is the follower-poll and holder-renewal figures.
type MicroResult struct {
	Rounds     int
	SelectOne  Latency            // the baseline of a poll
	UpdatePK   Latency            // the baseline of a renewal: the cheapest durable write
	Poll       map[string]Latency // by lease
	Renew      map[string]Latency
	PollAwait0 Latency // Soloist's own follower call, await_lease with no wait
	// Floor is what a procedure call costs on this server, whatever it
	// does: the least a poll in a procedure can take (see floorProcedures).
	Floor []Latency
}

// floorProcedures are created in the benchmark's database to show what part
// of a poll's time any stored procedure pays: an empty call, one read by
// primary key, and the least that try_acquire's contract allows (one result
// set, so the follower's answer is read into variables and returned after
// an IF that would otherwise fall through to the full algorithm).
var floorProcedures = []struct{ name, proc, body string }{
	{"a procedure that returns SELECT 1", "bench_floor_empty", "SELECT 1"},
	{"a procedure that reads the lease row by primary key", "bench_floor_read", `
		SELECT 0 AS acquired, token, CONVERT(holder USING utf8mb4) AS holder,
		       CEIL(TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(6), expires_at) / 1000) AS expires_in_ms
		  FROM leases WHERE name = p_lock AND holder <> p_owner AND expires_at > UTC_TIMESTAMP(6)`},
	{"the same read into variables, an IF, and SELECT of them", "bench_floor_branch", `
		BEGIN
		    DECLARE v_token BIGINT UNSIGNED;
		    DECLARE v_holder VARBINARY(1020);
		    DECLARE v_left_us BIGINT;
		    SELECT MAX(token), MAX(holder), MAX(TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(6), expires_at))
		      INTO v_token, v_holder, v_left_us
		      FROM leases WHERE name = p_lock AND holder <> p_owner AND expires_at > UTC_TIMESTAMP(6);
		    IF v_token IS NOT NULL THEN
		        SELECT 0 AS acquired, v_token AS token, CONVERT(v_holder USING utf8mb4) AS holder,
		               CEIL(v_left_us / 1000) AS expires_in_ms;
		    END IF;
		END`},
}

// Leases are the ones the benchmark compares, Soloist first.
var Leases = []string{"Soloist", "ShedLock", "Quartz", "GET_LOCK"}

var altKinds = map[string]string{"ShedLock": "shedlock", "Quartz": "quartz", "GET_LOCK": "getlock"}

// Micro measures, on one connection, SELECT 1, a single-row autocommit
// UPDATE by primary key, and for each lease the follower's poll of a lock
// another session holds and the holder's renewal. Statements are prepared
// once, as the runner prepares its own. Reads (SELECT 1 and the polls) and
// writes (the UPDATE and the renewals) are measured in two phases, each in a
// new random order every round, so that the machine's noise, and the
// background work a durable commit leaves behind, hits every statement of a
// comparison alike.
func Micro(ctx context.Context, db *sql.DB, rounds int) (*MicroResult, error) {
	holderConn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer holderConn.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	for _, stmt := range []string{
		"CREATE TABLE IF NOT EXISTS bench_plain (id INT PRIMARY KEY, v BIGINT NOT NULL)",
		"INSERT IGNORE INTO bench_plain VALUES (1, 0)",
	} {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			return nil, err
		}
	}
	const held, mine, other, me = "bench-held", "bench-mine", "10.0.0.9/holder", "10.0.0.1/bench"

	// Soloist: another owner holds bench-held; this connection holds bench-mine.
	// The calls are the store's, prepared once on this connection, as the
	// runner makes them.
	holderCalls, calls := store.New(holderConn), store.New(conn)
	defer holderCalls.Close()
	defer calls.Close()
	if l, err := holderCalls.TryAcquire(ctx, held, other, time.Hour); err != nil || !l.Acquired {
		return nil, fmt.Errorf("soloist setup: %s not acquired: %v", held, err)
	}
	l, err := calls.TryAcquire(ctx, mine, me, time.Hour)
	if err != nil || !l.Acquired {
		return nil, fmt.Errorf("soloist setup: %s not acquired: %v", mine, err)
	}
	token := l.Token

	var samples []*sample
	add := func(name string, run func(ctx context.Context) error) {
		samples = append(samples, &sample{name: name, run: run})
	}
	for _, q := range []struct{ name, sql string }{
		{"SELECT 1", "SELECT 1"},
		{"UPDATE by PK", "UPDATE bench_plain SET v = v + 1 WHERE id = 1"},
	} {
		st, err := conn.PrepareContext(ctx, q.sql)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", q.name, err)
		}
		defer st.Close()
		add(q.name, func(ctx context.Context) error { return queryAll(ctx, st) })
	}
	samples[len(samples)-1].write = true
	add("Soloist poll", func(ctx context.Context) error {
		_, err := calls.TryAcquire(ctx, held, me, 10*time.Second)
		return err
	})
	add("Soloist await_lease(0)", func(ctx context.Context) error {
		_, err := calls.AwaitLease(ctx, held, me, 10*time.Second, 0)
		return err
	})
	add("Soloist renew", func(ctx context.Context) error {
		_, err := calls.Heartbeat(ctx, mine, me, token, time.Hour)
		return err
	})
	samples[len(samples)-1].write = true
	for _, f := range floorProcedures {
		create := "CREATE PROCEDURE " + f.proc + "(IN p_lock LONGBLOB, IN p_owner LONGBLOB, IN p_ttl_ms BIGINT) " + f.body
		if _, err := conn.ExecContext(ctx, create); err != nil {
			return nil, fmt.Errorf("%s: %w", f.proc, err)
		}
		add(f.name, func(ctx context.Context) error { return calls.Call(ctx, f.proc, held, me, 10000) })
		samples[len(samples)-1].floor = true
	}

	// The alternatives: the holder session takes bench-held, this one
	// bench-mine; polls and renewals run on this connection.
	for _, name := range Leases[1:] {
		kind := altKinds[name]
		heldBy, err := newLease(kind, held, other, time.Hour, db)
		if err != nil {
			return nil, err
		}
		defer heldBy.close()
		if err := heldBy.setup(ctx, db); err != nil {
			return nil, fmt.Errorf("%s setup: %w", name, err)
		}
		if ok, err := heldBy.poll(ctx); err != nil || !ok {
			return nil, fmt.Errorf("%s setup: the holder could not take the lock: %v", name, err)
		}
		follower, err := newLease(kind, held, me, 10*time.Second, db)
		if err != nil {
			return nil, err
		}
		defer follower.close()
		mineLease, err := newLease(kind, mine, me, time.Hour, db)
		if err != nil {
			return nil, err
		}
		defer mineLease.close()
		if err := mineLease.setup(ctx, db); err != nil {
			return nil, err
		}
		if ok, err := mineLease.poll(ctx); err != nil || !ok {
			return nil, fmt.Errorf("%s setup: could not take its own lock: %v", name, err)
		}
		samples = append(samples,
			&sample{name: name + " poll", run: func(ctx context.Context) error {
				ok, err := follower.poll(ctx)
				if ok {
					return fmt.Errorf("%s: a follower took a held lock", name)
				}
				return err
			}},
			&sample{name: name + " renew", write: true, run: func(ctx context.Context) error {
				ok, err := mineLease.renew(ctx)
				if !ok && err == nil {
					return fmt.Errorf("%s: the holder lost its lock", name)
				}
				return err
			}},
		)
	}

	for _, write := range []bool{false, true} {
		var phase []*sample
		for _, s := range samples {
			if s.write == write {
				phase = append(phase, s)
			}
		}
		for range rounds {
			rand.Shuffle(len(phase), func(i, j int) { phase[i], phase[j] = phase[j], phase[i] })
			for _, s := range phase {
				t := time.Now()
				if err := s.run(ctx); err != nil {
					return nil, fmt.Errorf("%s: %w", s.name, err)
				}
				s.d = append(s.d, time.Since(t))
			}
		}
	}
	r := &MicroResult{Rounds: rounds, Poll: map[string]Latency{}, Renew: map[string]Latency{}}
	for _, s := range samples {
		l := s.latency()
		if s.floor {
			r.Floor = append(r.Floor, l)
			continue
		}
		switch s.name {
		case "SELECT 1":
			r.SelectOne = l
		case "UPDATE by PK":
			r.UpdatePK = l
		case "Soloist await_lease(0)":
			r.PollAwait0 = l
		default:
			for _, name := range Leases {
				switch s.name {
				case name + " poll":
					r.Poll[name] = l
				case name + " renew":
					r.Renew[name] = l
				}
			}
		}
	}
	return r, nil
}
