package soloist_test

// Contract tests for the lease procedures: every rule of the SQL contract in
// README.md, against a real server, through plain CALL statements as any
// client would send them.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/soloist-dev/soloist/internal/dbtest"
)

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// callRow runs a CALL, checks that it returns exactly one result set of
// exactly one row with the columns want, and scans that row into dest. A
// database error is returned, not reported.
func callRow(t testing.TB, q querier, want []string, dest []any, query string, args ...any) error {
	t.Helper()
	rows, err := q.QueryContext(context.Background(), query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	if strings.Join(cols, ",") != strings.Join(want, ",") {
		t.Fatalf("%s: columns %v, want %v", query, cols, want)
	}
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return err
		}
		t.Fatalf("%s: no row", query)
	}
	if err := rows.Scan(dest...); err != nil {
		t.Fatalf("%s: scan: %v", query, err)
	}
	if rows.Next() {
		t.Fatalf("%s: more than one row", query)
	}
	if rows.NextResultSet() {
		t.Fatalf("%s: more than one result set", query)
	}
	return rows.Err()
}

type lease struct {
	Acquired    bool
	Token       uint64
	Holder      sql.NullString
	ExpiresInMs int64
}

func tryAcquireErr(t testing.TB, q querier, lock, owner any, ttlMs any) (lease, error) {
	t.Helper()
	var l lease
	err := callRow(t, q, []string{"acquired", "token", "holder", "expires_in_ms"},
		[]any{&l.Acquired, &l.Token, &l.Holder, &l.ExpiresInMs},
		"CALL try_acquire(?, ?, ?)", lock, owner, ttlMs)
	return l, err
}

func tryAcquire(t testing.TB, q querier, lock, owner string, ttlMs int64) lease {
	t.Helper()
	l, err := tryAcquireErr(t, q, lock, owner, ttlMs)
	if err != nil {
		t.Fatalf("try_acquire(%q, %q, %d): %v", lock, owner, ttlMs, err)
	}
	return l
}

func heartbeatErr(t testing.TB, q querier, lock, owner, token, ttlMs any) (bool, int64, error) {
	t.Helper()
	var renewed bool
	var expires int64
	err := callRow(t, q, []string{"renewed", "expires_in_ms"}, []any{&renewed, &expires},
		"CALL heartbeat(?, ?, ?, ?)", lock, owner, token, ttlMs)
	return renewed, expires, err
}

func heartbeat(t testing.TB, q querier, lock, owner string, token uint64, ttlMs int64) (bool, int64) {
	t.Helper()
	renewed, expires, err := heartbeatErr(t, q, lock, owner, token, ttlMs)
	if err != nil {
		t.Fatalf("heartbeat(%q, %q, %d, %d): %v", lock, owner, token, ttlMs, err)
	}
	return renewed, expires
}

func releaseErr(t testing.TB, q querier, lock, owner, token any) (bool, error) {
	t.Helper()
	var released bool
	err := callRow(t, q, []string{"released"}, []any{&released}, "CALL release_lease(?, ?, ?)", lock, owner, token)
	return released, err
}

func release(t testing.TB, q querier, lock, owner string, token uint64) bool {
	t.Helper()
	released, err := releaseErr(t, q, lock, owner, token)
	if err != nil {
		t.Fatalf("release_lease(%q, %q, %d): %v", lock, owner, token, err)
	}
	return released
}

func assertLease(t testing.TB, q querier, lock, token any) error {
	t.Helper()
	var ok int
	err := callRow(t, q, []string{"ok"}, []any{&ok}, "CALL assert_lease(?, ?)", lock, token)
	if err == nil && ok != 1 {
		t.Fatalf("assert_lease: ok = %d", ok)
	}
	return err
}

// wantSignal checks that err is SQLSTATE 45000 with a message containing msg.
func wantSignal(t testing.TB, err error, msg string) {
	t.Helper()
	var me *mysql.MySQLError
	if !errors.As(err, &me) {
		t.Fatalf("error %v, want SQLSTATE 45000 %q", err, msg)
	}
	if string(me.SQLState[:]) != "45000" || !strings.Contains(me.Message, msg) {
		t.Fatalf("error %s %q, want SQLSTATE 45000 containing %q", me.SQLState, me.Message, msg)
	}
}

// snapshot is every row the lease procedures can write, as text.
func snapshot(t testing.TB, db *sql.DB) string {
	t.Helper()
	var b strings.Builder
	for _, q := range []string{
		"SELECT HEX(name), HEX(holder), token, acquired_at, renewed_at, expires_at, revoked_at, released_at, renewals FROM leases ORDER BY name",
		"SELECT HEX(name), token FROM lease_fences ORDER BY name",
		"SELECT HEX(name), token, HEX(holder), acquired_at, ended_at, end_reason FROM lease_terms ORDER BY name, token",
		"SELECT HEX(lease_name), HEX(host) FROM lease_hosts ORDER BY lease_name, host",
	} {
		rows, err := db.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintln(&b, vals)
		}
		rows.Close()
	}
	return b.String()
}

// waitNotHeld polls the lease_status view until the lease on lock is no
// longer held (it expired), or fails the test after ten seconds.
func waitNotHeld(t testing.TB, db *sql.DB, lock string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var status string
		if err := db.QueryRow("SELECT status FROM lease_status WHERE name = ?", lock).Scan(&status); err != nil {
			t.Fatal(err)
		}
		if status != "held" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("lease %q still held after 10s", lock)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestTryAcquire(t *testing.T) {
	t.Parallel()
	db := dbtest.NewDatabase(t).DB

	t.Run("CreatesAMissingLockAndAcquiresItWithToken1", func(t *testing.T) {
		got := tryAcquire(t, db, "new-lock", "10.0.0.1/a", 5000)
		want := lease{Acquired: true, Token: 1, Holder: sql.NullString{String: "10.0.0.1/a", Valid: true}, ExpiresInMs: 5000}
		if got != want {
			t.Fatalf("got %+v, want %+v", got, want)
		}
	})

	t.Run("RenewsTheHoldersOwnLiveLeaseWithTheSameToken", func(t *testing.T) {
		first := tryAcquire(t, db, "renew", "10.0.0.1/a", 30000)
		again := tryAcquire(t, db, "renew", "10.0.0.1/a", 60000)
		if !again.Acquired || again.Token != first.Token || again.ExpiresInMs != 60000 {
			t.Fatalf("renewal %+v after %+v: want acquired, token %d, 60000 ms", again, first, first.Token)
		}
	})

	t.Run("RefusesAnotherOwnerAndDescribesTheCurrentLease", func(t *testing.T) {
		held := tryAcquire(t, db, "busy", "10.0.0.1/a", 60000)
		got := tryAcquire(t, db, "busy", "10.0.0.2/b", 60000)
		if got.Acquired || got.Token != held.Token || got.Holder.String != "10.0.0.1/a" {
			t.Fatalf("got %+v, want not acquired, holder 10.0.0.1/a, token %d", got, held.Token)
		}
		if got.ExpiresInMs <= 55000 || got.ExpiresInMs > 60000 {
			t.Fatalf("expires_in_ms = %d, want just under 60000", got.ExpiresInMs)
		}
	})

	t.Run("TakesAnExpiredLeaseWithTheNextToken", func(t *testing.T) {
		held := tryAcquire(t, db, "expiring", "10.0.0.1/a", 20)
		waitNotHeld(t, db, "expiring")
		got := tryAcquire(t, db, "expiring", "10.0.0.2/b", 5000)
		if !got.Acquired || got.Token != held.Token+1 || got.Holder.String != "10.0.0.2/b" {
			t.Fatalf("got %+v, want acquired by b with token %d", got, held.Token+1)
		}
	})

	t.Run("RetakesTheCallersOwnExpiredLeaseWithTheNextToken", func(t *testing.T) {
		held := tryAcquire(t, db, "own-expired", "10.0.0.1/a", 20)
		waitNotHeld(t, db, "own-expired")
		got := tryAcquire(t, db, "own-expired", "10.0.0.1/a", 5000)
		if !got.Acquired || got.Token != held.Token+1 {
			t.Fatalf("got %+v, want acquired with token %d", got, held.Token+1)
		}
	})

	t.Run("ReportsAFreeLockWithNoHolderAfterARefusal", func(t *testing.T) {
		_, err := db.Exec("INSERT INTO lease_hosts (lease_name, host, added_at) VALUES ('guarded', '10.9.9.9', UTC_TIMESTAMP(6))")
		if err != nil {
			t.Fatal(err)
		}
		got := tryAcquire(t, db, "guarded", "10.0.0.1/a", 5000)
		if got.Acquired || got.Holder.Valid || got.ExpiresInMs != 0 {
			t.Fatalf("got %+v, want not acquired, holder NULL, 0 ms", got)
		}
	})

	t.Run("TwoOwnersRacingOnABrandNewLockNeverBothWin", func(t *testing.T) {
		for i := range 50 {
			lock := fmt.Sprintf("race-%d", i)
			results := make([]lease, 2)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for j := range results {
				wg.Go(func() {
					<-start
					results[j] = tryAcquire(t, db, lock, fmt.Sprintf("10.0.0.%d/racer", j+1), 5000)
				})
			}
			close(start)
			wg.Wait()
			if results[0].Acquired == results[1].Acquired && results[0].Acquired {
				t.Fatalf("%s: both acquired: %+v", lock, results)
			}
			winners := 0
			for _, r := range results {
				if r.Acquired {
					winners++
					if r.Token != 1 {
						t.Fatalf("%s: winner got token %d, want 1", lock, r.Token)
					}
				}
			}
			if winners == 0 {
				// Both may lose only to a deadlock between the two inserts; the
				// lock must then still be free and acquirable.
				if got := tryAcquire(t, db, lock, "10.0.0.3/late", 5000); !got.Acquired {
					t.Fatalf("%s: nobody won, and a later caller got %+v", lock, got)
				}
			}
		}
	})
}

func TestHeartbeat(t *testing.T) {
	t.Parallel()
	db := dbtest.NewDatabase(t).DB
	const lock, owner = "hb", "10.0.0.1/a"
	held := tryAcquire(t, db, lock, owner, 1000)

	t.Run("RenewsTheHoldersLeaseForTheTTLFromNow", func(t *testing.T) {
		renewed, expires := heartbeat(t, db, lock, owner, held.Token, 30000)
		if !renewed || expires != 30000 {
			t.Fatalf("renewed=%v expires_in_ms=%d, want true 30000", renewed, expires)
		}
		if got := tryAcquire(t, db, lock, "10.0.0.2/b", 1000); got.ExpiresInMs < 25000 {
			t.Fatalf("after a 30 s heartbeat another owner sees %d ms left", got.ExpiresInMs)
		}
	})

	for _, tc := range []struct {
		name  string
		owner string
		token uint64
	}{
		{"RefusesAnotherOwner", "10.0.0.2/b", held.Token},
		{"RefusesAnotherToken", owner, held.Token + 1},
		{"RefusesAnOlderToken", owner, held.Token - 1},
	} {
		t.Run(tc.name+"AndChangesNothing", func(t *testing.T) {
			before := snapshot(t, db)
			renewed, expires := heartbeat(t, db, lock, tc.owner, tc.token, 30000)
			if renewed || expires != 0 {
				t.Fatalf("renewed=%v expires_in_ms=%d, want false 0", renewed, expires)
			}
			if after := snapshot(t, db); after != before {
				t.Fatalf("rows changed:\n%s\nwant:\n%s", after, before)
			}
		})
	}

	t.Run("RefusesAnExpiredLeaseAndChangesNothing", func(t *testing.T) {
		l := tryAcquire(t, db, "hb-expired", owner, 20)
		waitNotHeld(t, db, "hb-expired")
		before := snapshot(t, db)
		if renewed, _ := heartbeat(t, db, "hb-expired", owner, l.Token, 30000); renewed {
			t.Fatal("an expired lease was renewed")
		}
		if after := snapshot(t, db); after != before {
			t.Fatalf("rows changed:\n%s\nwant:\n%s", after, before)
		}
	})

	t.Run("RefusesARevokedLease", func(t *testing.T) {
		l := tryAcquire(t, db, "hb-revoked", owner, 30000)
		if _, err := db.Exec("UPDATE leases SET revoked_at = UTC_TIMESTAMP(6) WHERE name = 'hb-revoked'"); err != nil {
			t.Fatal(err)
		}
		if renewed, _ := heartbeat(t, db, "hb-revoked", owner, l.Token, 30000); renewed {
			t.Fatal("a revoked lease was renewed")
		}
		if got := tryAcquire(t, db, "hb-revoked", owner, 30000); got.Acquired {
			t.Fatal("try_acquire renewed a revoked lease")
		}
	})
}

func TestReleaseLease(t *testing.T) {
	t.Parallel()
	db := dbtest.NewDatabase(t).DB
	const lock, owner = "rel", "10.0.0.1/a"

	t.Run("RefusesAnotherOwnerOrTokenAndChangesNothing", func(t *testing.T) {
		l := tryAcquire(t, db, lock, owner, 60000)
		before := snapshot(t, db)
		if release(t, db, lock, "10.0.0.2/b", l.Token) || release(t, db, lock, owner, l.Token+1) {
			t.Fatal("released for the wrong owner or token")
		}
		if after := snapshot(t, db); after != before {
			t.Fatalf("rows changed:\n%s\nwant:\n%s", after, before)
		}
		if !release(t, db, lock, owner, l.Token) {
			t.Fatal("the holder could not release")
		}
	})

	t.Run("LetsAnyoneAcquireAtOnceWithTheNextToken", func(t *testing.T) {
		l := tryAcquire(t, db, lock, owner, 60000)
		if !release(t, db, lock, owner, l.Token) {
			t.Fatal("not released")
		}
		got := tryAcquire(t, db, lock, "10.0.0.2/b", 60000)
		if !got.Acquired || got.Token != l.Token+1 {
			t.Fatalf("after release got %+v, want acquired with token %d", got, l.Token+1)
		}
		if release(t, db, lock, owner, l.Token) {
			t.Fatal("a released token was released again")
		}
	})

	t.Run("FreesALeaseThatExpiredButWasNotTakenOver", func(t *testing.T) {
		l := tryAcquire(t, db, "rel-expired", owner, 20)
		waitNotHeld(t, db, "rel-expired")
		if !release(t, db, "rel-expired", owner, l.Token) {
			t.Fatal("the last holder could not release its expired lease")
		}
	})
}

func TestFencingTokensStrictlyIncreaseAndAreNeverReused(t *testing.T) {
	t.Parallel()
	db := dbtest.NewDatabase(t).DB
	const lock = "tokens"
	var last uint64
	for i := range 30 {
		owner := fmt.Sprintf("10.0.0.%d/o", i%3)
		l := tryAcquire(t, db, lock, owner, 15)
		if !l.Acquired {
			waitNotHeld(t, db, lock)
			l = tryAcquire(t, db, lock, owner, 15)
		}
		if !l.Acquired || l.Token != last+1 {
			t.Fatalf("round %d: got %+v, want acquired with token %d", i, l, last+1)
		}
		last = l.Token
		if i%2 == 0 { // alternate release and expiry
			release(t, db, lock, owner, l.Token)
		} else {
			waitNotHeld(t, db, lock)
		}
	}
}

func TestAssertLease(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	db := d.DB
	ctx := context.Background()

	t.Run("PassesForTheCurrentLease", func(t *testing.T) {
		l := tryAcquire(t, db, "fence-ok", "10.0.0.1/a", 60000)
		if err := assertLease(t, db, "fence-ok", l.Token); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("SaysTheLeaseWasLost", func(t *testing.T) {
		l := tryAcquire(t, db, "fence-lost", "10.0.0.1/a", 20)
		wantSignal(t, assertLease(t, db, "never-taken", 1), "lease lost")
		wantSignal(t, assertLease(t, db, "fence-lost", l.Token+1), "lease lost")
		waitNotHeld(t, db, "fence-lost")
		wantSignal(t, assertLease(t, db, "fence-lost", l.Token), "expired")
		next := tryAcquire(t, db, "fence-lost", "10.0.0.2/b", 60000)
		wantSignal(t, assertLease(t, db, "fence-lost", l.Token), "superseded by token 2")
		release(t, db, "fence-lost", "10.0.0.2/b", next.Token)
		wantSignal(t, assertLease(t, db, "fence-lost", next.Token), "released")
	})

	t.Run("BlocksATakeoverUntilTheFencedTransactionCommits", func(t *testing.T) {
		if _, err := db.Exec("CREATE TABLE fenced_writes (token BIGINT UNSIGNED NOT NULL)"); err != nil {
			t.Fatal(err)
		}
		lock, old, tx := fencedShortLease(t, db, "fence-block", 200)
		waitNotHeld(t, db, lock) // the old lease expires while its fenced transaction is open

		takeover := make(chan lease, 1)
		go func() {
			l, err := tryAcquireErr(t, db, lock, "10.0.0.2/new", 60000)
			if err != nil {
				t.Error(err)
			}
			takeover <- l
		}()
		waitLockWait(t, db)
		var fenceToken uint64
		if err := db.QueryRow("SELECT token FROM lease_fences WHERE name = ?", lock).Scan(&fenceToken); err != nil {
			t.Fatal(err)
		}
		if fenceToken != old.Token {
			t.Fatalf("fence token %d moved while the fenced transaction was open", fenceToken)
		}
		if _, err := tx.Exec("INSERT INTO fenced_writes VALUES (?)", old.Token); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		got := <-takeover
		if !got.Acquired || got.Token != old.Token+1 {
			t.Fatalf("takeover after commit: %+v, want acquired with token %d", got, old.Token+1)
		}

		// The old holder's next fenced transaction fails and writes nothing.
		tx2, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx2.Rollback() //nolint:errcheck // an open transaction would block the database's DROP at cleanup
		wantSignal(t, assertLease(t, tx2, lock, old.Token), "lease lost")
		tx2.Rollback() //nolint:errcheck
		var n int
		if err := db.QueryRow("SELECT COUNT(*) FROM fenced_writes").Scan(&n); err != nil || n != 1 {
			t.Fatalf("fenced writes: %d (%v), want exactly the one made under the live lease", n, err)
		}
	})

	t.Run("AFencedTransactionLongerThanASecondMakesTakeoversWaitNotFail", func(t *testing.T) {
		lock, old, tx := fencedShortLease(t, db, "fence-long", 20)
		waitNotHeld(t, db, lock)
		// try_acquire waits at most a second for the fence, then reports
		// "not acquired" instead of an error, and leaves nothing half done.
		got := tryAcquire(t, db, lock, "10.0.0.2/new", 60000)
		if got.Acquired {
			t.Fatalf("took over while a fenced transaction was open: %+v", got)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if got := tryAcquire(t, db, lock, "10.0.0.2/new", 60000); !got.Acquired || got.Token != old.Token+1 {
			t.Fatalf("after commit: %+v, want acquired with token %d", got, old.Token+1)
		}
	})

	t.Run("DoesNotDelayTheHoldersHeartbeat", func(t *testing.T) {
		const lock = "fence-hb"
		l := tryAcquire(t, db, lock, "10.0.0.1/a", 60000)
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback() //nolint:errcheck
		if err := assertLease(t, tx, lock, l.Token); err != nil {
			t.Fatal(err)
		}
		// With the fence held, the heartbeat must still go through: it would
		// fail with a lock wait timeout (1205) if it needed the fence row.
		conn, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, "SET SESSION innodb_lock_wait_timeout = 1"); err != nil {
			t.Fatal(err)
		}
		if renewed, _ := heartbeat(t, conn, lock, "10.0.0.1/a", l.Token, 60000); !renewed {
			t.Fatal("heartbeat refused while a fenced transaction was open")
		}
	})
}

// fencedShortLease takes a lease of ttlMs on a lock named after prefix and
// fences a transaction with it, which the test must end (it is rolled back
// when the test ends). A loaded server can let a short lease expire before
// assert_lease runs: then it tries again on a new lock with a longer lease.
func fencedShortLease(t *testing.T, db *sql.DB, prefix string, ttlMs int64) (string, lease, *sql.Tx) {
	t.Helper()
	for attempt := 0; ; attempt++ {
		lock := fmt.Sprintf("%s-%d", prefix, attempt)
		l := tryAcquire(t, db, lock, "10.0.0.1/old", ttlMs)
		tx, err := db.BeginTx(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		err = assertLease(t, tx, lock, l.Token)
		if err == nil {
			t.Cleanup(func() { tx.Rollback() }) //nolint:errcheck // committed by the test, or rolled back here
			return lock, l, tx
		}
		tx.Rollback() //nolint:errcheck
		if !strings.Contains(err.Error(), "expired") || attempt == 5 {
			t.Fatal(err)
		}
		ttlMs *= 4
	}
}

// waitLockWait waits until some transaction of the server waits for a row lock.
func waitLockWait(t testing.TB, db *sql.DB) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var n int
		if err := db.QueryRow("SELECT COUNT(*) FROM information_schema.INNODB_TRX WHERE trx_state = 'LOCK WAIT'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no transaction started waiting for the fence within 5s")
		}
		// InnoDB refreshes INNODB_TRX only after 100 ms without readers.
		time.Sleep(120 * time.Millisecond)
	}
}

func TestNoRowLockOutlivesACall(t *testing.T) {
	t.Parallel()
	db := dbtest.NewDatabase(t).DB
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var id int64
	if err := conn.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&id); err != nil {
		t.Fatal(err)
	}
	l := tryAcquire(t, conn, "locks", "10.0.0.1/a", 60000)
	heartbeat(t, conn, "locks", "10.0.0.1/a", l.Token, 60000)
	if err := assertLease(t, conn, "locks", l.Token); err != nil {
		t.Fatal(err)
	}
	tryAcquire(t, conn, "locks", "10.0.0.2/b", 60000)
	release(t, conn, "locks", "10.0.0.1/a", l.Token)
	var open int
	if err := db.QueryRow("SELECT COUNT(*) FROM information_schema.INNODB_TRX WHERE trx_mysql_thread_id = ?", id).Scan(&open); err != nil {
		t.Fatal(err)
	}
	if open != 0 {
		t.Fatalf("%d transactions left open by the procedures", open)
	}
}

func TestBadArgumentsFailWith45000AndChangeNothing(t *testing.T) {
	t.Parallel()
	// The procedures keep the sql_mode they were created with: check that no
	// mode a DBA may migrate under lets a bad argument through.
	for _, mode := range []string{"''", "'TRADITIONAL'", "'ANSI,NO_BACKSLASH_ESCAPES'"} {
		t.Run("MigratedUnderSQLMode"+strings.Trim(mode, "'"), func(t *testing.T) {
			t.Parallel()
			d := dbtest.NewEmptyDatabase(t)
			db := d.Open(t, func(c *mysql.Config) { c.Params = map[string]string{"sql_mode": mode} })
			if err := migrate(db); err != nil {
				t.Fatal(err)
			}
			checkBadArguments(t, db)
		})
	}
}

func checkBadArguments(t *testing.T, db *sql.DB) {
	long191 := strings.Repeat("é", 191)
	held := tryAcquire(t, db, long191, "10.0.0.1/a", 60000)
	tryAcquire(t, db, "x", "10.0.0.1/a", 60000)
	before := snapshot(t, db)

	for _, tc := range []struct {
		name string
		call func() error
		msg  string
	}{
		{"NullLock", func() error { _, err := tryAcquireErr(t, db, nil, "o", 1000); return err }, "p_lock must not be NULL"},
		{"EmptyLock", func() error { _, err := tryAcquireErr(t, db, "", "o", 1000); return err }, "p_lock must not be empty"},
		{"LockOf192Characters", func() error { _, err := tryAcquireErr(t, db, long191+"é", "o", 1000); return err }, "p_lock must be at most 191 characters"},
		{"LockOf10KB", func() error { _, err := tryAcquireErr(t, db, strings.Repeat("x", 10240), "o", 1000); return err }, "p_lock must be at most 191"},
		{"LockWithNUL", func() error { _, err := tryAcquireErr(t, db, "x\x00", "o", 1000); return err }, "p_lock must not contain control characters"},
		{"LockWithNewline", func() error { _, err := tryAcquireErr(t, db, "x\n", "o", 1000); return err }, "p_lock must not contain control characters"},
		{"LockNotUTF8", func() error { _, err := tryAcquireErr(t, db, "x\xff", "o", 1000); return err }, "p_lock must be valid UTF-8"},
		{"NullOwner", func() error { _, err := tryAcquireErr(t, db, "x", nil, 1000); return err }, "p_owner must not be NULL"},
		{"EmptyOwner", func() error { _, err := tryAcquireErr(t, db, "x", "", 1000); return err }, "p_owner must not be empty"},
		{"OwnerOf256Characters", func() error { _, err := tryAcquireErr(t, db, "x", strings.Repeat("o", 256), 1000); return err }, "p_owner must be at most 255 characters"},
		{"NullTTL", func() error { _, err := tryAcquireErr(t, db, "x", "o", nil); return err }, "p_ttl_ms must be 1 to 86400000"},
		{"ZeroTTL", func() error { _, err := tryAcquireErr(t, db, "x", "o", 0); return err }, "p_ttl_ms must be 1 to 86400000"},
		{"NegativeTTL", func() error { _, err := tryAcquireErr(t, db, "x", "o", -5); return err }, "p_ttl_ms must be 1 to 86400000"},
		{"HugeTTL", func() error { _, err := tryAcquireErr(t, db, "x", "o", int64(math.MaxInt64)); return err }, "p_ttl_ms must be 1 to 86400000"},
		{"TTLOfADayAndAMillisecond", func() error { _, err := tryAcquireErr(t, db, "x", "o", 86400001); return err }, "p_ttl_ms must be 1 to 86400000"},
		{"HeartbeatNullToken", func() error { _, _, err := heartbeatErr(t, db, "x", "10.0.0.1/a", nil, 1000); return err }, "p_token must not be NULL"},
		{"HeartbeatNullLock", func() error { _, _, err := heartbeatErr(t, db, nil, "10.0.0.1/a", 1, 1000); return err }, "p_lock must not be NULL"},
		{"HeartbeatBadTTL", func() error { _, _, err := heartbeatErr(t, db, "x", "10.0.0.1/a", 2, 0); return err }, "p_ttl_ms must be 1 to 86400000"},
		{"HeartbeatLongOwner", func() error {
			_, _, err := heartbeatErr(t, db, "x", strings.Repeat("o", 10240), 2, 1000)
			return err
		}, "p_owner must be at most 255"},
		{"ReleaseNullToken", func() error { _, err := releaseErr(t, db, "x", "10.0.0.1/a", nil); return err }, "p_token must not be NULL"},
		{"ReleaseEmptyOwner", func() error { _, err := releaseErr(t, db, "x", "", 2); return err }, "p_owner must not be empty"},
		{"AssertNullToken", func() error { return assertLease(t, db, "x", nil) }, "p_token must not be NULL"},
		{"AssertLongLock", func() error { return assertLease(t, db, long191+"x", held.Token) }, "p_lock must be at most 191"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantSignal(t, tc.call(), tc.msg)
		})
	}
	if after := snapshot(t, db); after != before {
		t.Fatalf("bad arguments changed rows:\n%s\nwant:\n%s", after, before)
	}
	// A name one character too long was not truncated into the 191-character
	// lock: that lease is untouched, with its holder and token.
	if got := tryAcquire(t, db, long191, "10.0.0.2/b", 1000); got.Acquired || got.Token != held.Token {
		t.Fatalf("191-character lock: %+v", got)
	}
}

func TestNamesAreStoredAndComparedVerbatim(t *testing.T) {
	t.Parallel()
	db := dbtest.NewDatabase(t).DB
	names := []string{
		"billing", "billing ", " billing", "Billing", "bílling", "billing\\", `it's "quoted"`,
		"'; DROP TABLE leases; --", "🦀 nightly", "a%", "a_", "ß", "ss",
	}
	for i, name := range names {
		owner := fmt.Sprintf("10.0.0.%d/%s", i, name)
		l := tryAcquire(t, db, name, owner, 60000)
		if !l.Acquired || l.Token != 1 || l.Holder.String != owner {
			t.Fatalf("%q: %+v, want a new lock of its own held by %q", name, l, owner)
		}
	}
	rows, err := db.Query("SELECT name, holder FROM lease_status")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	seen := map[string]string{}
	for rows.Next() {
		var name, holder string
		if err := rows.Scan(&name, &holder); err != nil {
			t.Fatal(err)
		}
		seen[name] = holder
	}
	if len(seen) != len(names) {
		t.Fatalf("lease_status has %d locks, want %d: %q", len(seen), len(names), seen)
	}
	for i, name := range names {
		if want := fmt.Sprintf("10.0.0.%d/%s", i, name); seen[name] != want {
			t.Fatalf("lock %q: holder %q, want %q", name, seen[name], want)
		}
	}
	var tables int
	if err := db.QueryRow("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'leases'").Scan(&tables); err != nil || tables != 1 {
		t.Fatalf("leases table: %d (%v)", tables, err)
	}
}

func TestResultsDoNotDependOnTheSessionClock(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	east := d.Open(t, func(c *mysql.Config) { c.Params = map[string]string{"time_zone": "'+13:00'"} })
	west := d.Open(t, func(c *mysql.Config) { c.Params = map[string]string{"time_zone": "'-12:00'"} })
	const lock = "tz"

	a := tryAcquire(t, east, lock, "10.0.0.1/east", 60000)
	b := tryAcquire(t, west, lock, "10.0.0.2/west", 60000)
	if !a.Acquired || b.Acquired || b.Holder.String != "10.0.0.1/east" || b.ExpiresInMs < 55000 || b.ExpiresInMs > 60000 {
		t.Fatalf("east %+v, west %+v: want west to see east's lease with ~60 s left", a, b)
	}
	if renewed, expires := heartbeat(t, west, lock, "10.0.0.1/east", a.Token, 60000); !renewed || expires != 60000 {
		t.Fatal("a heartbeat from another time zone was refused")
	}

	// The view shows the same database times in both sessions.
	var eastRow, westRow string
	q := "SELECT CONCAT_WS(' ', status, acquired_at, expires_at) FROM lease_status WHERE name = ?"
	if err := east.QueryRow(q, lock).Scan(&eastRow); err != nil {
		t.Fatal(err)
	}
	if err := west.QueryRow(q, lock).Scan(&westRow); err != nil {
		t.Fatal(err)
	}
	if eastRow != westRow {
		t.Fatalf("lease_status differs by session time zone: %q vs %q", eastRow, westRow)
	}

	// A session that moves its own clock a day ahead cannot expire the lease.
	conn, err := west.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(context.Background(), "SET timestamp = UNIX_TIMESTAMP() + 86400"); err != nil {
		t.Fatal(err)
	}
	if got := tryAcquire(t, conn, lock, "10.0.0.2/west", 60000); got.Acquired || got.ExpiresInMs < 55000 {
		t.Fatalf("with SET timestamp a day ahead: %+v, want east's lease still ~60 s from expiry", got)
	}
}

// TestConcurrentTakeoversNeverOverlap hammers one lock from 8 goroutines with
// short TTLs, releases and abandoned leases, and checks the audit trail that
// a trigger records of every change to the lease row: no two leases overlap in
// database time and every token belongs to one owner.
func TestConcurrentTakeoversNeverOverlap(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	db := d.DB
	db.SetMaxOpenConns(16)
	for _, stmt := range []string{
		`CREATE TABLE audit (
			seq BIGINT AUTO_INCREMENT PRIMARY KEY, token BIGINT UNSIGNED, holder VARBINARY(1020),
			acquired_at DATETIME(6), expires_at DATETIME(6), released_at DATETIME(6))`,
		`CREATE TRIGGER leases_audit AFTER UPDATE ON leases FOR EACH ROW
			INSERT INTO audit (token, holder, acquired_at, expires_at, released_at)
			VALUES (NEW.token, NEW.holder, NEW.acquired_at, NEW.expires_at, NEW.released_at)`,
	} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}

	const lock, workers = "hammer", 8
	calls := 2000
	if testing.Short() { // the contract suite against a replicated primary
		calls = 100
	}
	var mu sync.Mutex
	owners := map[uint64]string{} // token -> owner, as the callers were told
	claim := func(token uint64, owner string) {
		mu.Lock()
		defer mu.Unlock()
		if prev, ok := owners[token]; ok && prev != owner {
			t.Errorf("token %d given to %q and %q", token, prev, owner)
		}
		owners[token] = owner
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			owner := fmt.Sprintf("10.0.0.%d/worker", w)
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			var token uint64
			for range calls {
				ttl := int64(2 + rng.IntN(20))
				if token == 0 {
					l, err := tryAcquireErr(t, db, lock, owner, ttl)
					if err != nil {
						t.Error(err)
						return
					}
					if l.Acquired {
						token = l.Token
						claim(token, owner)
					}
					continue
				}
				switch r := rng.IntN(10); {
				case r < 6:
					renewed, _, err := heartbeatErr(t, db, lock, owner, token, ttl)
					if err != nil {
						t.Error(err)
						return
					}
					if renewed {
						claim(token, owner)
					} else {
						token = 0
					}
				case r < 8:
					if _, err := releaseErr(t, db, lock, owner, token); err != nil {
						t.Error(err)
						return
					}
					token = 0
				default: // walk away: the lease must expire before anyone else gets it
					token = 0
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	// Replay the audit trail. For each token: its owner, its start and the
	// latest moment it was valid (last expiry, or release).
	type term struct {
		owner      string
		start, end time.Time
	}
	terms := map[uint64]*term{}
	rows, err := db.Query("SELECT token, holder, acquired_at, expires_at, released_at FROM audit ORDER BY seq")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var maxToken uint64
	for rows.Next() {
		var token uint64
		var holder sql.NullString
		var acquired, expires, released sql.NullTime
		if err := rows.Scan(&token, &holder, &acquired, &expires, &released); err != nil {
			t.Fatal(err)
		}
		if token == 0 {
			continue
		}
		tm := terms[token]
		if tm == nil {
			tm = &term{owner: holder.String, start: acquired.Time}
			terms[token] = tm
		}
		switch {
		case holder.Valid && holder.String != tm.owner:
			t.Fatalf("token %d held by %q and %q", token, tm.owner, holder.String)
		case holder.Valid: // the latest expiry is the one a takeover must wait for
			tm.end = expires.Time
		case released.Valid: // released: valid until the release
			tm.end = released.Time
		}
		maxToken = max(maxToken, token)
	}
	if len(terms) < calls/20 {
		t.Fatalf("only %d terms: the test did not force enough takeovers", len(terms))
	}
	for token := uint64(1); token <= maxToken; token++ {
		tm := terms[token]
		if tm == nil {
			t.Fatalf("token %d was skipped", token)
		}
		if owners[token] != "" && owners[token] != tm.owner {
			t.Fatalf("token %d: callers were told %q, the row says %q", token, owners[token], tm.owner)
		}
		if next := terms[token+1]; next != nil && next.start.Before(tm.end) {
			t.Fatalf("token %d (%s) started at %s, before token %d (%s) ended at %s",
				token+1, next.owner, next.start.Format(time.StampMicro), token, tm.owner, tm.end.Format(time.StampMicro))
		}
	}
	t.Logf("%d workers x %d calls: %d terms, no overlap", workers, calls, len(terms))
}
