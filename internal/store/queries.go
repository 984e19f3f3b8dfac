package store

// Every statement Soloist's Go code sends to the database. Each is a CALL of
// a procedure in procedures/, so the runner's database user needs nothing but
// EXECUTE (docs/dba.md).
const (
	queryTryAcquire    = "CALL try_acquire(?, ?, ?)"
	queryAwaitLease    = "CALL await_lease(?, ?, ?, ?)"
	queryHeartbeat     = "CALL heartbeat(?, ?, ?, ?)"
	queryReleaseLease  = "CALL release_lease(?, ?, ?)"
	querySchemaVersion = "CALL schema_version()"
	queryDatabaseTime  = "CALL database_time()"
	queryBeginTerm     = "CALL begin_term(?, ?, ?)"
	querySyncJob       = "CALL sync_job(?, ?, ?, ?, ?)"
	queryClaimFire     = "CALL claim_fire(?, ?, ?, ?, ?, ?, ?, ?)"
	queryFinishRun     = "CALL finish_run(?, ?, ?, ?, ?)"
	queryPruneRuns     = "CALL prune_runs(?, ?, ?, ?)"

	// Balanced mode.
	queryJoinGroup    = "CALL join_group(?, ?, ?, ?)"
	queryBalanceRenew = "CALL balance_renew(?, ?, ?)"
	queryAcquireJob   = "CALL acquire_job(?, ?, ?, ?)"
	queryLeaveGroup   = "CALL leave_group(?, ?)"
	queryDeclareJobs  = "CALL declare_jobs(?, ?, ?)"

	// queryAssertLease runs in the caller's own transaction, which may be on
	// another default database: the schema is qualified by the caller.
	queryAssertLease = "CALL %s.assert_lease(?, ?)"
)
