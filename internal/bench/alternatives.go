package bench

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// A lease is one way to make one process of many the leader, as the
// benchmark compares them: poll while following, renew while leading,
// release on a graceful stop. All of them take the time from the database.
type lease interface {
	name() string
	// setup creates what the lease needs in the database, idempotently.
	setup(ctx context.Context, db *sql.DB) error
	// poll tries to take the lease and reports whether this process holds it.
	poll(ctx context.Context) (bool, error)
	// renew keeps a held lease, reporting whether it is still held.
	renew(ctx context.Context) (bool, error)
	// release gives a held lease up.
	release(ctx context.Context) error
	close() error
}

// The alternatives, from their published SQL patterns.
//
//   - ShedLock (lukas-krecan/ShedLock, JdbcTemplateLockProvider with
//     usingDbTime()): a row per lock with lock_until; a node takes it with
//     one conditional UPDATE ... WHERE lock_until <= now, extends it with
//     an UPDATE ... WHERE locked_by = me AND lock_until > now, and unlocks by
//     setting lock_until to now. A follower's poll is the conditional UPDATE
//     that matches no row.
//   - Quartz (JobStoreTX with StdRowLockSemaphore): every cluster decision
//     is made in a transaction that first locks a row of QRTZ_LOCKS with
//     SELECT ... FOR UPDATE; nodes check in by updating their row of
//     QRTZ_SCHEDULER_STATE, and a node whose check-in is older than the
//     check-in interval is taken to be dead. Modelled as a lease: the poll is
//     the locking transaction that reads the leader's check-in, the renewal
//     the check-in UPDATE.
//   - GET_LOCK held on a pinned connection: the lock lives as long as the
//     session. The poll is GET_LOCK(name, 0); there is nothing to renew (the
//     benchmark's "renewal" is a keep-alive SELECT 1 on the pinned
//     connection), and a crashed holder's lock goes when the server notices
//     its connection closed.

func newLease(kind, lock, owner string, ttl time.Duration, db *sql.DB) (lease, error) {
	conn, err := db.Conn(context.Background())
	if err != nil {
		return nil, err
	}
	switch kind {
	case "shedlock":
		return &shedLock{conn: conn, lock: lock, owner: owner, ttl: ttl}, nil
	case "quartz":
		return &quartz{conn: conn, lock: lock, owner: owner, ttl: ttl}, nil
	case "getlock":
		return &getLock{conn: conn, lock: lock}, nil
	}
	conn.Close()
	return nil, fmt.Errorf("unknown alternative %q", kind)
}

// execRows runs a statement and returns the rows it affected: the rows it
// matched when the connection has clientFoundRows=true, as the benchmark's
// have (JDBC's default), and the rows it changed otherwise.
func execRows(ctx context.Context, conn *sql.Conn, query string, args ...any) (int64, error) {
	res, err := conn.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

type shedLock struct {
	conn       *sql.Conn
	lock       string
	owner      string
	ttl        time.Duration
	rowCreated bool
}

func (s *shedLock) name() string { return "ShedLock" }

func (s *shedLock) setup(ctx context.Context, db *sql.DB) error {
	_, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS shedlock (
		name VARCHAR(64) NOT NULL, lock_until TIMESTAMP(3) NOT NULL,
		locked_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3), locked_by VARCHAR(255) NOT NULL,
		PRIMARY KEY (name))`)
	return err
}

func (s *shedLock) poll(ctx context.Context) (bool, error) {
	us := s.ttl.Microseconds()
	if !s.rowCreated { // ShedLock inserts the row the first time, then only updates
		n, err := execRows(ctx, s.conn, `INSERT IGNORE INTO shedlock (name, lock_until, locked_at, locked_by)
			VALUES (?, TIMESTAMPADD(MICROSECOND, ?, UTC_TIMESTAMP(3)), UTC_TIMESTAMP(3), ?)`, s.lock, us, s.owner)
		if err != nil {
			return false, err
		}
		s.rowCreated = true
		if n == 1 {
			return true, nil
		}
	}
	n, err := execRows(ctx, s.conn, `UPDATE shedlock SET lock_until = TIMESTAMPADD(MICROSECOND, ?, UTC_TIMESTAMP(3)),
		locked_at = UTC_TIMESTAMP(3), locked_by = ? WHERE name = ? AND lock_until <= UTC_TIMESTAMP(3)`, us, s.owner, s.lock)
	return n == 1, err
}

func (s *shedLock) renew(ctx context.Context) (bool, error) {
	n, err := execRows(ctx, s.conn, `UPDATE shedlock SET lock_until = TIMESTAMPADD(MICROSECOND, ?, UTC_TIMESTAMP(3))
		WHERE name = ? AND locked_by = ? AND lock_until > UTC_TIMESTAMP(3)`, s.ttl.Microseconds(), s.lock, s.owner)
	return n == 1, err
}

func (s *shedLock) release(ctx context.Context) error {
	_, err := execRows(ctx, s.conn, "UPDATE shedlock SET lock_until = UTC_TIMESTAMP(3) WHERE name = ? AND locked_by = ?", s.lock, s.owner)
	return err
}

func (s *shedLock) close() error { return s.conn.Close() }

type quartz struct {
	conn  *sql.Conn
	lock  string
	owner string
	ttl   time.Duration
}

func (q *quartz) name() string { return "Quartz" }

// setup creates QRTZ_LOCKS as Quartz has it, and the check-in row of the
// modelled lease: Quartz keeps one row per node in QRTZ_SCHEDULER_STATE;
// here one row says which node leads and when it last checked in.
func (q *quartz) setup(ctx context.Context, db *sql.DB) error {
	for _, stmt := range []string{
		`CREATE TABLE IF NOT EXISTS QRTZ_LOCKS (SCHED_NAME VARCHAR(120) NOT NULL, LOCK_NAME VARCHAR(40) NOT NULL,
			PRIMARY KEY (SCHED_NAME, LOCK_NAME))`,
		`CREATE TABLE IF NOT EXISTS QRTZ_SCHEDULER_STATE (SCHED_NAME VARCHAR(120) NOT NULL, INSTANCE_NAME VARCHAR(190) NOT NULL,
			LAST_CHECKIN_TIME BIGINT NOT NULL, CHECKIN_INTERVAL BIGINT NOT NULL, PRIMARY KEY (SCHED_NAME))`,
		`INSERT IGNORE INTO QRTZ_LOCKS VALUES ('` + sqlQuote(q.lock) + `', 'STATE_ACCESS')`,
		`INSERT IGNORE INTO QRTZ_SCHEDULER_STATE VALUES ('` + sqlQuote(q.lock) + `', '', 0, 0)`,
	} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	return nil
}

// nowMs is the database clock in ms, as Quartz stores check-in times.
const nowMs = "(TIMESTAMPDIFF(MICROSECOND, '1970-01-01', UTC_TIMESTAMP(3)) DIV 1000)"

func (q *quartz) poll(ctx context.Context) (bool, error) {
	tx, err := q.conn.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	var lockName string
	err = tx.QueryRowContext(ctx, "SELECT LOCK_NAME FROM QRTZ_LOCKS WHERE SCHED_NAME = ? AND LOCK_NAME = 'STATE_ACCESS' FOR UPDATE", q.lock).Scan(&lockName)
	if err != nil {
		return false, err
	}
	var leader string
	var dead bool
	err = tx.QueryRowContext(ctx, "SELECT INSTANCE_NAME, LAST_CHECKIN_TIME + CHECKIN_INTERVAL < "+nowMs+
		" FROM QRTZ_SCHEDULER_STATE WHERE SCHED_NAME = ?", q.lock).Scan(&leader, &dead)
	if err != nil {
		return false, err
	}
	if dead {
		if _, err := tx.ExecContext(ctx, "UPDATE QRTZ_SCHEDULER_STATE SET INSTANCE_NAME = ?, LAST_CHECKIN_TIME = "+nowMs+
			", CHECKIN_INTERVAL = ? WHERE SCHED_NAME = ?", q.owner, q.ttl.Milliseconds(), q.lock); err != nil {
			return false, err
		}
		leader = q.owner
	}
	return leader == q.owner, tx.Commit()
}

// renew is the node's check-in.
func (q *quartz) renew(ctx context.Context) (bool, error) {
	n, err := execRows(ctx, q.conn, "UPDATE QRTZ_SCHEDULER_STATE SET LAST_CHECKIN_TIME = "+nowMs+
		" WHERE SCHED_NAME = ? AND INSTANCE_NAME = ?", q.lock, q.owner)
	return n == 1, err
}

func (q *quartz) release(ctx context.Context) error {
	_, err := execRows(ctx, q.conn, "UPDATE QRTZ_SCHEDULER_STATE SET LAST_CHECKIN_TIME = 0 WHERE SCHED_NAME = ? AND INSTANCE_NAME = ?", q.lock, q.owner)
	return err
}

func (q *quartz) close() error { return q.conn.Close() }

type getLock struct {
	conn *sql.Conn
	lock string
	held bool
}

func (g *getLock) name() string { return "GET_LOCK" }

func (g *getLock) setup(context.Context, *sql.DB) error { return nil }

func (g *getLock) poll(ctx context.Context) (bool, error) {
	if g.held {
		return true, nil
	}
	var got sql.NullInt64
	if err := g.conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, 0)", g.lock).Scan(&got); err != nil {
		return false, err
	}
	g.held = got.Int64 == 1
	return g.held, nil
}

// await blocks up to wait for the lock, as a GET_LOCK follower does.
func (g *getLock) await(ctx context.Context, wait time.Duration) (bool, error) {
	var got sql.NullInt64
	if err := g.conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, ?)", g.lock, wait.Seconds()).Scan(&got); err != nil {
		return false, err
	}
	g.held = got.Int64 == 1
	return g.held, nil
}

func (g *getLock) renew(ctx context.Context) (bool, error) {
	var one int
	err := g.conn.QueryRowContext(ctx, "SELECT 1").Scan(&one)
	return err == nil && g.held, err
}

func (g *getLock) release(ctx context.Context) error {
	_, err := g.conn.ExecContext(ctx, "DO RELEASE_LOCK(?)", g.lock)
	g.held = false
	return err
}

func (g *getLock) close() error { return g.conn.Close() }

func sqlQuote(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' || s[i] == '\\' {
			out = append(out, '\\')
		}
		out = append(out, s[i])
	}
	return string(out)
}
