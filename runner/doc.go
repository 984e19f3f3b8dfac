// Package runner runs scheduled jobs on exactly one server of a cluster.
//
// Every server starts a Runner with the same group name and the same jobs.
// The runners compete for the group's lease through Soloist's stored
// procedures; the one that holds it runs the jobs, the others wait to take
// over. A group is one lease name; several groups can share a database.
//
//	r, err := runner.New(db, "billing")
//	err = r.Add(runner.Job{Name: "invoices", Schedule: "0 2 * * *", Run: invoices})
//	err = r.Run(ctx) // blocks until ctx is cancelled
//
// # Lease loop
//
// A follower calls await_lease once per interval (default TTL/3). The call
// waits on the database server until the lease can change hands: the moment
// the holder releases it or its connection closes, or the moment the lease
// expires by the database clock. So a crashed holder is replaced within the
// TTL plus a few milliseconds, and a holder that stops gracefully within
// milliseconds. The holder renews with heartbeat every interval; renewing is
// never a side effect of acquiring.
//
// # Trust window
//
// The database clock decides when a lease expires. The holder never compares
// its own wall clock with it; it trusts its lease only until
//
//	(local monotonic time the last successful renewal was sent) + TTL - safety margin
//
// When that passes without a successful renewal, it steps down at once, even
// if the database is unreachable: it starts nothing more and cancels the
// context of every running job (cause ErrLeaseLost). The database started the
// renewed lease no earlier than the renewal was sent, so the step-down
// happens at least the safety margin (default TTL/5) before anyone else can
// take over.
//
// What this does not cover: a job that ignores its context, and a process
// that is frozen (SIGSTOP, a long GC or VM pause) while a job is in the middle
// of a write. For those, fence the write itself with [Fire.AssertLease]:
// a fenced write from a holder that lost its lease never commits.
//
// # Exactly once
//
// Each fire of a job is claimed in the database under the holder's token,
// keyed by (group, job, scheduled time); a fire can be claimed once, ever.
// A new holder continues from the last fire recorded, so a fire claimed
// before a leader change is never run again, and fires that nobody claimed in
// time are handled by the job's [Missed] policy. Every fire appears once in
// the runs table, as a run with its outcome or as missed. Fire times are
// computed on the database clock, so runners with skewed clocks or time zones
// agree on when a job is due.
//
// # Failure handling
//
// Database errors never end Run: it logs them, backs off and tries again. A
// deadlock, a lock wait timeout or a Galera certification conflict (errors
// 1213 and 1205) means "not acquired this time". Calls have deadlines, so a connection that a network fault left
// hanging is dropped. A new holder marks the runs that an earlier holder left
// running as abandoned; if that holder comes back and reports what really
// happened, its report replaces "abandoned".
//
// # Graceful stop
//
// When Run's context is cancelled, the runner stops claiming fires, lets
// running jobs finish within the grace period (default 10s), cancels the rest
// (cause ErrShutdown), releases the lease so that another runner takes over on
// its next attempt, and returns.
//
// # Observing
//
// [WithHooks] sets functions that the runner calls on lease attempts,
// renewals, term changes and finished runs, for metrics. A run's
// [Outcome] and a term's cause ([ErrTrustWindowPassed], [ErrLeaseNotRenewed],
// [ErrSteppedDown]) are typed, so a hook tells them apart with == and
// errors.Is. Hooks must not block: they run on the runner's goroutines.
//
// # Resources
//
// A runner keeps prepared statements on db and one connection of it for
// its lease loop while Run runs. [Runner.Close] frees the statements after
// Run has returned; it does not close db.
//
// # Privileges
//
// Everything a runner reads or writes goes through a stored procedure, so its
// database user needs nothing but EXECUTE on them (docs/dba.md).
package runner
