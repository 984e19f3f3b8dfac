package bench

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"
)

// Latency is the distribution of one call's round trips.
type Latency struct {
	Name     string
	P50, P99 time.Duration
	N        int
}

// sample is a statement measured in turn with the others.
type sample struct {
	name string
	run  func(ctx context.Context) error
	d    []time.Duration
}

func (s *sample) latency() Latency {
	d := slices.Clone(s.d)
	slices.Sort(d)
	return Latency{Name: s.name, P50: d[len(d)/2], P99: d[len(d)*99/100], N: len(d)}
}

// queryAll runs a prepared statement and reads every result, as a CALL needs.
func queryAll(ctx context.Context, st *sql.Stmt, args ...any) error {
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return err
	}
	for {
		for rows.Next() {
		}
		if !rows.NextResultSet() {
			break
		}
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return err
	}
	return rows.Close()
}

// MicroResult is the follower-poll and holder-renewal figures.
type MicroResult struct {
	Rounds     int
	SelectOne  Latency            // the baseline of a poll
	UpdatePK   Latency            // the baseline of a renewal: the cheapest durable write
	Poll       map[string]Latency // by lease
	Renew      map[string]Latency
	PollAwait0 Latency // Soloist's own follower call, await_lease with no wait
}

// Leases are the ones the benchmark compares, Soloist first.
var Leases = []string{"Soloist", "ShedLock", "Quartz", "GET_LOCK"}

var altKinds = map[string]string{"ShedLock": "shedlock", "Quartz": "quartz", "GET_LOCK": "getlock"}

// Micro measures, on one connection and interleaved so that the machine's
// noise hits all alike: SELECT 1, a single-row autocommit UPDATE by primary
// key, and for each lease the follower's poll of a lock another session
// holds and the holder's renewal. Statements are prepared once, as the
// runner prepares its own.
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
	for _, c := range []struct {
		conn        *sql.Conn
		lock, owner string
	}{{holderConn, held, other}, {conn, mine, me}} {
		if _, err := c.conn.ExecContext(ctx, "CALL try_acquire(?, ?, 3600000)", c.lock, c.owner); err != nil {
			return nil, fmt.Errorf("soloist setup: %w", err)
		}
	}
	var token uint64
	var acquired bool
	var holder sql.NullString
	var exp int64
	if err := conn.QueryRowContext(ctx, "CALL try_acquire(?, ?, 3600000)", mine, me).Scan(&acquired, &token, &holder, &exp); err != nil || !acquired {
		return nil, fmt.Errorf("soloist setup: %v", err)
	}

	prepare := func(q string) (*sql.Stmt, error) { return conn.PrepareContext(ctx, q) }
	var samples []*sample
	add := func(name, q string, args ...any) error {
		st, err := prepare(q)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		samples = append(samples, &sample{name: name, run: func(ctx context.Context) error { return queryAll(ctx, st, args...) }})
		return nil
	}
	if err := add("SELECT 1", "SELECT 1"); err != nil {
		return nil, err
	}
	if err := add("UPDATE by PK", "UPDATE bench_plain SET v = v + 1 WHERE id = 1"); err != nil {
		return nil, err
	}
	if err := add("Soloist poll", "CALL try_acquire(?, ?, ?)", held, me, 10000); err != nil {
		return nil, err
	}
	if err := add("Soloist await_lease(0)", "CALL await_lease(?, ?, ?, 0)", held, me, 10000); err != nil {
		return nil, err
	}
	if err := add("Soloist renew", "CALL heartbeat(?, ?, ?, ?)", mine, me, token, 3600000); err != nil {
		return nil, err
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
			&sample{name: name + " renew", run: func(ctx context.Context) error {
				ok, err := mineLease.renew(ctx)
				if !ok && err == nil {
					return fmt.Errorf("%s: the holder lost its lock", name)
				}
				return err
			}},
		)
	}

	for range rounds {
		for _, s := range samples {
			t := time.Now()
			if err := s.run(ctx); err != nil {
				return nil, fmt.Errorf("%s: %w", s.name, err)
			}
			s.d = append(s.d, time.Since(t))
		}
	}
	r := &MicroResult{Rounds: rounds, Poll: map[string]Latency{}, Renew: map[string]Latency{}}
	for _, s := range samples {
		l := s.latency()
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
