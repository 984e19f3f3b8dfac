// Package store calls the stored procedures a runner needs (the lease, the
// term, claims and outcomes, and assert_lease for fenced writes). It is the
// one package that spells those calls; the reads live in internal/report and
// the operators' calls in internal/admin. Errors are classified by
// internal/dberr, and a procedure's "lease lost" signal matches ErrLeaseLost.
// Statements are prepared once and reused, so that a call is one round trip
// whatever the DSN's interpolateParams setting. Times cross the boundary as
// milliseconds since the Unix epoch in UTC, so that no session time zone or
// driver time setting (parseTime, loc) can shift them.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Preparer is what a Store runs on: a *sql.DB, or a *sql.Conn when the
// caller needs every call on one connection.
type Preparer interface {
	PrepareContext(ctx context.Context, query string) (*sql.Stmt, error)
}

// Querier runs a query: *sql.DB, *sql.Conn and *sql.Tx all are.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// Store calls the procedures over one Preparer. It is safe for concurrent use.
type Store struct {
	db Preparer

	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

// New returns a Store over db.
func New(db Preparer) *Store {
	return &Store{db: db, stmts: map[string]*sql.Stmt{}}
}

// Close closes the prepared statements (not db).
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for q, st := range s.stmts {
		errs = append(errs, st.Close())
		delete(s.stmts, q)
	}
	return errors.Join(errs...)
}

func (s *Store) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.stmts[query]; ok {
		return st, nil
	}
	st, err := s.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	s.stmts[query] = st
	return st, nil
}

// one runs a CALL that returns one row and scans it into dest.
func (s *Store) one(ctx context.Context, query string, args []any, dest ...any) error {
	rows, err := s.query(ctx, query, args)
	if err != nil {
		return callError(query, err)
	}
	return callError(query, scanOne(rows, dest))
}

// query runs query as the Store's prepared statement.
func (s *Store) query(ctx context.Context, query string, args []any) (*sql.Rows, error) {
	st, err := s.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// Call calls any procedure by name, as a prepared statement of the Store,
// and reads all its results. It is for callers that only time a call, such
// as the benchmark's comparison procedures; Soloist's own procedures have a
// method each.
func (s *Store) Call(ctx context.Context, proc string, args ...any) error {
	query := "CALL " + quoteIdent(proc) + "(" + strings.TrimSuffix(strings.Repeat("?, ", len(args)), ", ") + ")"
	rows, err := s.query(ctx, query, args)
	if err != nil {
		return callError(query, err)
	}
	return callError(query, CloseRows(rows))
}

// CallOne runs query, a CALL that returns one row, on q without preparing
// it, scans the row into dest and reads the rest of the results. Errors come
// back as the driver returned them, with sql.ErrNoRows for a call that
// returned no row. The report and admin calls use it.
func CallOne(ctx context.Context, q Querier, query string, args []any, dest ...any) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	return scanOne(rows, dest)
}

// scanOne scans the first row of rows into dest and reads the rest of the
// CALL's results.
func scanOne(rows *sql.Rows, dest []any) error {
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return err
		}
		return sql.ErrNoRows
	}
	if err := rows.Scan(dest...); err != nil {
		return err
	}
	return CloseRows(rows)
}

// CloseRows reads what is left of a CALL's results (a procedure's status
// result among them) and reports any error, then closes rows, so that the
// connection is free for the next statement.
func CloseRows(rows *sql.Rows) error {
	for rows.NextResultSet() {
		for rows.Next() {
		}
	}
	err := rows.Err()
	if cerr := rows.Close(); err == nil {
		err = cerr
	}
	return err
}

func callError(query string, err error) error {
	if err == nil {
		return nil
	}
	name := strings.TrimPrefix(query, "CALL ")
	if i := strings.IndexByte(name, '('); i >= 0 {
		name = name[:i]
	}
	return fmt.Errorf("%s: %w", name, classify(err))
}

// ms converts a duration to whole milliseconds, rounding up, so that a
// positive duration never becomes 0.
func ms(d time.Duration) int64 {
	return int64((d + time.Millisecond - 1) / time.Millisecond)
}

// fromMillis converts milliseconds since the Unix epoch to a UTC time.
func fromMillis(v int64) time.Time { return time.UnixMilli(v).UTC() }

// Lease is the row try_acquire and await_lease return.
type Lease struct {
	Acquired  bool
	Token     uint64
	Holder    string // "" when nobody holds the lease
	ExpiresIn time.Duration
}

func (s *Store) lease(ctx context.Context, query string, args ...any) (Lease, error) {
	var l Lease
	var holder sql.NullString
	var expires int64
	err := s.one(ctx, query, args, &l.Acquired, &l.Token, &holder, &expires)
	l.Holder, l.ExpiresIn = holder.String, time.Duration(expires)*time.Millisecond
	return l, err
}

// TryAcquire calls try_acquire: one attempt, without waiting on the server.
// The runner follows with AwaitLease; the benchmark measures this call.
func (s *Store) TryAcquire(ctx context.Context, lock, owner string, ttl time.Duration) (Lease, error) {
	return s.lease(ctx, queryTryAcquire, lock, owner, ms(ttl))
}

// AwaitLease calls await_lease: it waits on the server up to wait for the
// lease to change hands, then tries to acquire it.
func (s *Store) AwaitLease(ctx context.Context, lock, owner string, ttl, wait time.Duration) (Lease, error) {
	return s.lease(ctx, queryAwaitLease, lock, owner, ms(ttl), ms(wait))
}

// Heartbeat calls heartbeat and reports whether the lease was renewed.
func (s *Store) Heartbeat(ctx context.Context, lock, owner string, token uint64, ttl time.Duration) (bool, error) {
	var renewed bool
	var expires int64
	err := s.one(ctx, queryHeartbeat, []any{lock, owner, token, ms(ttl)}, &renewed, &expires)
	return renewed, err
}

// Release calls release_lease and reports whether the lease was released.
func (s *Store) Release(ctx context.Context, lock, owner string, token uint64) (bool, error) {
	var released bool
	err := s.one(ctx, queryReleaseLease, []any{lock, owner, token}, &released)
	return released, err
}

// SchemaVersion calls schema_version: the goose version of the schema and
// the name of the database it is in.
func (s *Store) SchemaVersion(ctx context.Context) (version int64, schema string, err error) {
	err = s.one(ctx, querySchemaVersion, nil, &version, &schema)
	return version, schema, err
}

// DatabaseTime calls database_time.
func (s *Store) DatabaseTime(ctx context.Context) (time.Time, error) {
	var now int64
	err := s.one(ctx, queryDatabaseTime, nil, &now)
	return fromMillis(now), err
}

// BeginTerm calls begin_term: it marks the runs older holders left running
// as abandoned and returns how many, with the database time.
func (s *Store) BeginTerm(ctx context.Context, lock, owner string, token uint64) (abandoned int64, now time.Time, err error) {
	var nowMs int64
	err = s.one(ctx, queryBeginTerm, []any{lock, owner, token}, &abandoned, &nowMs)
	return abandoned, fromMillis(nowMs), err
}

// JobState is what sync_job returns about a job.
type JobState struct {
	Paused   bool
	LastFire time.Time // zero for a job that never fired
	Now      time.Time // the database clock
	// Registered is when a holder registered the job before this call; zero
	// the first time. A job that never fired owes the fires after it.
	Registered time.Time
}

// SyncJob calls sync_job.
func (s *Store) SyncJob(ctx context.Context, lock, owner string, token uint64, job, schedule string) (JobState, error) {
	var st JobState
	var last, registered sql.NullInt64
	var now int64
	err := s.one(ctx, querySyncJob, []any{lock, owner, token, job, schedule}, &st.Paused, &last, &now, &registered)
	if last.Valid {
		st.LastFire = fromMillis(last.Int64)
	}
	if registered.Valid {
		st.Registered = fromMillis(registered.Int64)
	}
	st.Now = fromMillis(now)
	return st, err
}

// Claim is one call of claim_fire.
type Claim struct {
	Lock, Owner string
	Token       uint64
	Job         string
	Fire        time.Time
	Next        time.Time // zero when the schedule has no next fire
	Missed      bool      // record the fire as missed instead of claiming it to run
	Message     string    // why it was missed
}

// Claim reasons, as claim_fire returns them.
const (
	ReasonClaimed   = "claimed"
	ReasonRecorded  = "recorded"
	ReasonTaken     = "taken"
	ReasonPaused    = "paused"
	ReasonEarly     = "early"
	ReasonLeaseLost = "lease_lost"
	ReasonBusy      = "busy"
)

// ClaimResult is claim_fire's row.
type ClaimResult struct {
	Claimed bool
	RunID   int64
	Reason  string
	Now     time.Time
}

// ClaimFire calls claim_fire.
func (s *Store) ClaimFire(ctx context.Context, c Claim) (ClaimResult, error) {
	var r ClaimResult
	var runID sql.NullInt64
	var now int64
	outcome := "running"
	if c.Missed {
		outcome = "missed"
	}
	var next any
	if !c.Next.IsZero() {
		next = c.Next.UnixMilli()
	}
	err := s.one(ctx, queryClaimFire,
		[]any{c.Lock, c.Owner, c.Token, c.Job, c.Fire.UnixMilli(), next, outcome, c.Message},
		&r.Claimed, &runID, &r.Reason, &now)
	r.RunID, r.Now = runID.Int64, fromMillis(now)
	return r, err
}

// FinishRun calls finish_run and reports whether the outcome was recorded.
func (s *Store) FinishRun(ctx context.Context, runID int64, owner, outcome, message, output string) (bool, error) {
	var recorded bool
	err := s.one(ctx, queryFinishRun, []any{runID, owner, outcome, nullIfEmpty(message), nullIfEmpty(output)}, &recorded)
	return recorded, err
}

// nullIfEmpty stores "" as NULL: no message, rather than an empty one.
func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// PruneRuns calls prune_runs and returns how many rows it deleted.
func (s *Store) PruneRuns(ctx context.Context, lock, owner string, token uint64, keep time.Duration) (int64, error) {
	var deleted int64
	err := s.one(ctx, queryPruneRuns, []any{lock, owner, token, ms(keep)}, &deleted)
	return deleted, err
}

// AssertLease calls assert_lease in schema on q, typically the caller's own
// transaction. It returns an error matching ErrLeaseLost when token is not
// the current lease.
func AssertLease(ctx context.Context, q Querier, schema, lock string, token uint64) error {
	query := fmt.Sprintf(queryAssertLease, quoteIdent(schema))
	var ok int
	return callError(query, CallOne(ctx, q, query, []any{lock, token}, &ok))
}

func quoteIdent(s string) string {
	return "`" + strings.ReplaceAll(s, "`", "``") + "`"
}
