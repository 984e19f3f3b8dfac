package bench

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The balanced section compares Soloist's balanced mode with the two ways
// of spreading jobs over a cluster that the Java world uses, each modelled
// here from its published SQL. A model runs in one worker process (one
// scheduler instance); the harness starts N of them. Each calls emit when a
// job starts: that is the fire the benchmark times and checks for doubles.
// Both take the time from the worker's clock, as they do (Quartz's
// System.currentTimeMillis(), db-scheduler's Clock); the harness runs every
// worker on the database's machine, so it is the database's clock too.
//
// Quartz's cluster (quartz-scheduler/quartz, quartz-core/src/main/java/org/
// quartz/impl/jdbcjobstore: JobStoreSupport.acquireNextTrigger,
// triggersFired/triggerFired, triggeredJobComplete, doCheckin/clusterCheckIn/
// calcFailedIfAfter/clusterRecover; the statements of StdJDBCConstants; the
// lock of StdRowLockSemaphore; the loop of core/QuartzSchedulerThread.run).
// Every trigger is a row of QRTZ_TRIGGERS with NEXT_FIRE_TIME and a state.
// A node's scheduler thread, in transactions that first lock the
// TRIGGER_ACCESS row of QRTZ_LOCKS with SELECT ... FOR UPDATE:
//  1. acquires up to batchTriggerAcquisitionMaxCount triggers due before
//     now + idleWaitTime, earliest first: each WAITING -> ACQUIRED, with a
//     row in QRTZ_FIRED_TRIGGERS;
//  2. waits until their fire time, then marks them fired: the fired row
//     EXECUTING, the trigger WAITING again with its next fire time;
//  3. runs each job on its thread pool, and on completion deletes its fired
//     row, again under the lock.
//
// A node that acquires nothing sleeps idleWaitTime less up to 20 %. A
// trigger more than misfireThreshold late is no longer acquired; each
// node's MisfireHandler moves it to "fire once now". Nodes
// check in every clusterCheckinInterval; a node whose check-in is older than
// its interval + 7.5 s is failed, and the next node to check in puts its
// ACQUIRED triggers back to WAITING under both locks.
// Settings: Quartz's defaults (threadCount 10 as its example properties,
// idleWaitTime 30 s, timeWindow 0, misfireThreshold 60 s) except
// batchTriggerAcquisitionMaxCount = threadCount, the usual tuning for many
// triggers, which also puts acquisition under TRIGGER_ACCESS (Quartz takes
// the lock for batches); clusterCheckinInterval is set to Soloist's renewal
// interval (TTL/3) so that failure detection is comparable.
// Simplified: one trigger per job and one job per trigger (a cron trigger
// every second); the QRTZ_CRON_TRIGGERS row is left out (Quartz reads and
// updates it with the trigger row: one statement fewer each time here); the
// maximum batch is a LIMIT (Connector/J's setMaxRows may cost a statement);
// the TransactionValidator that runs only after a failed commit is left out.
//
// db-scheduler (kagkarlsson/db-scheduler, db-scheduler/src/main/java/com/
// github/kagkarlsson/scheduler: jdbc/JdbcTaskRepository.lockAndFetchGeneric,
// reschedule, updateHeartbeat, getDeadExecutions; jdbc/Queries.selectForUpdate;
// the lock-and-fetch loop of LockAndFetchCandidates; SchedulerBuilder's
// defaults). Every recurring task is a row of scheduled_tasks with
// execution_time and picked. Each node polls in a transaction:
// SELECT * ... WHERE picked = false AND execution_time <= now ORDER BY
// execution_time LIMIT n FOR UPDATE SKIP LOCKED, then one UPDATE per row to
// picked = true, picked_by, last_heartbeat, version + 1; it runs them, and
// on completion reschedules each to its next execution time after the
// completion (picked = false) with an UPDATE ... WHERE version = v. It polls
// again at once when a full batch has been worked down to the lower limit,
// else after pollingInterval. Every heartbeatInterval it updates
// last_heartbeat of its executing rows and looks for dead executions (picked
// and last_heartbeat older than missedHeartbeatsLimit intervals), which it
// revives (reschedules to now).
// Settings: threads 10, lock-and-fetch limits 0.5 and 1.0 of the threads
// (the README's example); pollingInterval 1 s instead of the default 10 s
// (a job every second could not run on time otherwise; a shorter interval
// would trade lateness for statements); heartbeatInterval TTL/3 and
// missedHeartbeatsLimit 3 instead of 5 min and 6, so that a dead node's
// executions come back after the TTL, as with Soloist.
// Simplified: db-scheduler's MariaDB and MySQL customizations leave this
// generic lock-and-fetch switched off ("FIXLATER: fix syntax"; it puts
// FOR UPDATE SKIP LOCKED before LIMIT), so on MariaDB it would poll with
// fetch-then-pick instead; the model is the SKIP LOCKED strategy with the
// clauses in MariaDB's order. Its polling transaction runs at READ
// COMMITTED (one SET TRANSACTION statement more per poll), as SKIP LOCKED
// queues on InnoDB usually do: at the server's default REPEATABLE READ the
// ordered range scan keeps next-key locks on every row it passes, picked
// ones included, so the owners' reschedules and the other polls queue
// behind each other (at 100 nodes and 1,000 jobs the model ran none of the
// fires due in a 30 s window). task_data is NULL (no serialization).

// jobName is the name of job i of a balanced run, the same in every system.
func jobName(i int) string { return fmt.Sprintf("job-%04d", i) }

// distributor is one scheduler instance of an alternative.
type distributor interface {
	// run schedules until ctx ends, calling emit as each job starts.
	run(ctx context.Context, emit func(job string, fire time.Time)) error
}

// distributorSetup creates an alternative's tables and its jobs, the first
// fire of each at first.
func distributorSetup(ctx context.Context, kind string, db *sql.DB, jobs int, first time.Time) error {
	var stmts []string
	var insert func(i int) (string, []any)
	switch kind {
	case "quartz":
		stmts = quartzTables
		insert = func(i int) (string, []any) {
			return "INSERT INTO QRTZ_TRIGGERS (SCHED_NAME, TRIGGER_NAME, TRIGGER_GROUP, JOB_NAME, JOB_GROUP, NEXT_FIRE_TIME, PREV_FIRE_TIME, PRIORITY, TRIGGER_STATE, TRIGGER_TYPE, START_TIME, MISFIRE_INSTR) VALUES ('bench', ?, 'DEFAULT', ?, 'DEFAULT', ?, -1, 5, 'WAITING', 'CRON', ?, 0)",
				[]any{jobName(i), jobName(i), first.UnixMilli(), first.UnixMilli()}
		}
	case "dbscheduler":
		stmts = dbSchedulerTables
		insert = func(i int) (string, []any) {
			return "INSERT INTO scheduled_tasks (task_name, task_instance, execution_time, picked, version) VALUES (?, 'recurring', ?, 0, 1)",
				[]any{jobName(i), first}
		}
	default:
		return fmt.Errorf("unknown alternative %q", kind)
	}
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("%s setup: %w", kind, err)
		}
	}
	for i := range jobs {
		if kind == "quartz" {
			if _, err := db.ExecContext(ctx, "INSERT INTO QRTZ_JOB_DETAILS (SCHED_NAME, JOB_NAME, JOB_GROUP, JOB_CLASS_NAME, IS_DURABLE, IS_NONCONCURRENT, IS_UPDATE_DATA, REQUESTS_RECOVERY) VALUES ('bench', ?, 'DEFAULT', 'bench.NoOp', '0', '0', '0', '0')", jobName(i)); err != nil {
				return err
			}
		}
		q, args := insert(i)
		if _, err := db.ExecContext(ctx, q, args...); err != nil {
			return err
		}
	}
	return nil
}

// newDistributor returns one scheduler instance of an alternative; ttl is
// Soloist's, from which the failure detection settings follow.
// Every error a statement returns goes to failed (nil: dropped), and the
// node goes on as the scheduler would: it retries.
func newDistributor(kind string, db *sql.DB, instance string, ttl time.Duration, failed func(error)) (distributor, error) {
	if failed == nil {
		failed = func(error) {}
	}
	switch kind {
	case "quartz":
		return &quartzNode{db: db, instance: instance, threads: 10, batch: 10,
			idleWait: 30 * time.Second, checkin: ttl / 3, misfire: 60 * time.Second, failed: failed}, nil
	case "dbscheduler":
		return &dbSchedulerNode{db: db, name: instance, threads: 10, lower: 5, upper: 10,
			poll: time.Second, heartbeat: ttl / 3, missedLimit: 3, failed: failed}, nil
	}
	return nil, fmt.Errorf("unknown alternative %q", kind)
}

// The tables, as Quartz's tables_mysql_innodb.sql has them, less the
// columns no statement here touches.
var quartzTables = []string{
	`CREATE TABLE QRTZ_JOB_DETAILS (SCHED_NAME VARCHAR(120) NOT NULL, JOB_NAME VARCHAR(190) NOT NULL,
		JOB_GROUP VARCHAR(190) NOT NULL, DESCRIPTION VARCHAR(250) NULL, JOB_CLASS_NAME VARCHAR(250) NOT NULL,
		IS_DURABLE VARCHAR(1) NOT NULL, IS_NONCONCURRENT VARCHAR(1) NOT NULL, IS_UPDATE_DATA VARCHAR(1) NOT NULL,
		REQUESTS_RECOVERY VARCHAR(1) NOT NULL, JOB_DATA BLOB NULL,
		PRIMARY KEY (SCHED_NAME, JOB_NAME, JOB_GROUP)) ENGINE=InnoDB`,
	`CREATE TABLE QRTZ_TRIGGERS (SCHED_NAME VARCHAR(120) NOT NULL, TRIGGER_NAME VARCHAR(190) NOT NULL,
		TRIGGER_GROUP VARCHAR(190) NOT NULL, JOB_NAME VARCHAR(190) NOT NULL, JOB_GROUP VARCHAR(190) NOT NULL,
		DESCRIPTION VARCHAR(250) NULL, NEXT_FIRE_TIME BIGINT(13) NULL, PREV_FIRE_TIME BIGINT(13) NULL,
		PRIORITY INTEGER NULL, TRIGGER_STATE VARCHAR(16) NOT NULL, TRIGGER_TYPE VARCHAR(8) NOT NULL,
		START_TIME BIGINT(13) NOT NULL, END_TIME BIGINT(13) NULL, CALENDAR_NAME VARCHAR(190) NULL,
		MISFIRE_INSTR SMALLINT(2) NULL, JOB_DATA BLOB NULL,
		PRIMARY KEY (SCHED_NAME, TRIGGER_NAME, TRIGGER_GROUP),
		INDEX IDX_QRTZ_T_NFT_ST (SCHED_NAME, TRIGGER_STATE, NEXT_FIRE_TIME),
		INDEX IDX_QRTZ_T_NFT_MISFIRE (SCHED_NAME, MISFIRE_INSTR, NEXT_FIRE_TIME)) ENGINE=InnoDB`,
	`CREATE TABLE QRTZ_FIRED_TRIGGERS (SCHED_NAME VARCHAR(120) NOT NULL, ENTRY_ID VARCHAR(140) NOT NULL,
		TRIGGER_NAME VARCHAR(190) NOT NULL, TRIGGER_GROUP VARCHAR(190) NOT NULL, INSTANCE_NAME VARCHAR(190) NOT NULL,
		FIRED_TIME BIGINT(13) NOT NULL, SCHED_TIME BIGINT(13) NOT NULL, PRIORITY INTEGER NOT NULL,
		STATE VARCHAR(16) NOT NULL, JOB_NAME VARCHAR(190) NULL, JOB_GROUP VARCHAR(190) NULL,
		IS_NONCONCURRENT VARCHAR(1) NULL, REQUESTS_RECOVERY VARCHAR(1) NULL,
		PRIMARY KEY (SCHED_NAME, ENTRY_ID),
		INDEX IDX_QRTZ_FT_TRIG_INST_NAME (SCHED_NAME, INSTANCE_NAME)) ENGINE=InnoDB`,
	`CREATE TABLE QRTZ_SCHEDULER_STATE (SCHED_NAME VARCHAR(120) NOT NULL, INSTANCE_NAME VARCHAR(190) NOT NULL,
		LAST_CHECKIN_TIME BIGINT(13) NOT NULL, CHECKIN_INTERVAL BIGINT(13) NOT NULL,
		PRIMARY KEY (SCHED_NAME, INSTANCE_NAME)) ENGINE=InnoDB`,
	`CREATE TABLE QRTZ_LOCKS (SCHED_NAME VARCHAR(120) NOT NULL, LOCK_NAME VARCHAR(40) NOT NULL,
		PRIMARY KEY (SCHED_NAME, LOCK_NAME)) ENGINE=InnoDB`,
	`INSERT INTO QRTZ_LOCKS VALUES ('bench', 'TRIGGER_ACCESS'), ('bench', 'STATE_ACCESS')`,
}

// The table of db-scheduler's mysql_tables.sql.
var dbSchedulerTables = []string{
	`CREATE TABLE scheduled_tasks (task_name VARCHAR(100) NOT NULL, task_instance VARCHAR(100) NOT NULL,
		task_data BLOB, execution_time TIMESTAMP(6) NOT NULL, picked BOOLEAN NOT NULL, picked_by VARCHAR(50),
		last_success TIMESTAMP(6) NULL, last_failure TIMESTAMP(6) NULL, consecutive_failures INT,
		last_heartbeat TIMESTAMP(6) NULL, version BIGINT NOT NULL, priority SMALLINT,
		PRIMARY KEY (task_name, task_instance),
		INDEX execution_time_idx (execution_time), INDEX last_heartbeat_idx (last_heartbeat),
		INDEX priority_execution_time_idx (priority DESC, execution_time ASC)) ENGINE=InnoDB`,
}

// The statements of the Quartz model, with Quartz's constant names.
const (
	qLockTriggers        = "SELECT * FROM QRTZ_LOCKS WHERE SCHED_NAME = 'bench' AND LOCK_NAME = 'TRIGGER_ACCESS' FOR UPDATE"
	qLockState           = "SELECT * FROM QRTZ_LOCKS WHERE SCHED_NAME = 'bench' AND LOCK_NAME = 'STATE_ACCESS' FOR UPDATE"
	qSelectNextToAcquire = "SELECT TRIGGER_NAME, TRIGGER_GROUP, NEXT_FIRE_TIME, PRIORITY FROM QRTZ_TRIGGERS WHERE SCHED_NAME = 'bench' AND TRIGGER_STATE = 'WAITING' AND NEXT_FIRE_TIME <= ? AND (MISFIRE_INSTR = -1 OR (MISFIRE_INSTR != -1 AND NEXT_FIRE_TIME >= ?)) ORDER BY NEXT_FIRE_TIME ASC, PRIORITY DESC LIMIT ?"
	qSelectTrigger       = "SELECT * FROM QRTZ_TRIGGERS WHERE SCHED_NAME = 'bench' AND TRIGGER_NAME = ? AND TRIGGER_GROUP = 'DEFAULT'"
	qSelectJobDetail     = "SELECT * FROM QRTZ_JOB_DETAILS WHERE SCHED_NAME = 'bench' AND JOB_NAME = ? AND JOB_GROUP = 'DEFAULT'"
	qUpdateStateFrom     = "UPDATE QRTZ_TRIGGERS SET TRIGGER_STATE = ? WHERE SCHED_NAME = 'bench' AND TRIGGER_NAME = ? AND TRIGGER_GROUP = 'DEFAULT' AND TRIGGER_STATE = ?"
	qInsertFired         = "INSERT INTO QRTZ_FIRED_TRIGGERS (SCHED_NAME, ENTRY_ID, TRIGGER_NAME, TRIGGER_GROUP, INSTANCE_NAME, FIRED_TIME, SCHED_TIME, STATE, JOB_NAME, JOB_GROUP, IS_NONCONCURRENT, REQUESTS_RECOVERY, PRIORITY) VALUES ('bench', ?, ?, 'DEFAULT', ?, ?, ?, 'ACQUIRED', NULL, NULL, 0, 0, 5)"
	qSelectTriggerState  = "SELECT TRIGGER_STATE FROM QRTZ_TRIGGERS WHERE SCHED_NAME = 'bench' AND TRIGGER_NAME = ? AND TRIGGER_GROUP = 'DEFAULT'"
	qUpdateFired         = "UPDATE QRTZ_FIRED_TRIGGERS SET INSTANCE_NAME = ?, FIRED_TIME = ?, SCHED_TIME = ?, STATE = 'EXECUTING', JOB_NAME = ?, JOB_GROUP = 'DEFAULT', IS_NONCONCURRENT = 0, REQUESTS_RECOVERY = 0 WHERE SCHED_NAME = 'bench' AND ENTRY_ID = ?"
	qTriggerExists       = "SELECT TRIGGER_NAME FROM QRTZ_TRIGGERS WHERE SCHED_NAME = 'bench' AND TRIGGER_NAME = ? AND TRIGGER_GROUP = 'DEFAULT'"
	qUpdateTrigger       = "UPDATE QRTZ_TRIGGERS SET JOB_NAME = ?, JOB_GROUP = 'DEFAULT', DESCRIPTION = NULL, NEXT_FIRE_TIME = ?, PREV_FIRE_TIME = ?, TRIGGER_STATE = 'WAITING', TRIGGER_TYPE = 'CRON', START_TIME = START_TIME, END_TIME = 0, CALENDAR_NAME = NULL, MISFIRE_INSTR = 0, PRIORITY = 5 WHERE SCHED_NAME = 'bench' AND TRIGGER_NAME = ? AND TRIGGER_GROUP = 'DEFAULT'"
	qDeleteFired         = "DELETE FROM QRTZ_FIRED_TRIGGERS WHERE SCHED_NAME = 'bench' AND ENTRY_ID = ?"
	qCountMisfired       = "SELECT COUNT(TRIGGER_NAME) FROM QRTZ_TRIGGERS WHERE SCHED_NAME = 'bench' AND NOT (MISFIRE_INSTR = -1) AND NEXT_FIRE_TIME < ? AND TRIGGER_STATE = 'WAITING'"
	qSelectMisfired      = "SELECT TRIGGER_NAME, TRIGGER_GROUP FROM QRTZ_TRIGGERS WHERE SCHED_NAME = 'bench' AND NOT (MISFIRE_INSTR = -1) AND NEXT_FIRE_TIME < ? AND TRIGGER_STATE = 'WAITING' ORDER BY NEXT_FIRE_TIME ASC, PRIORITY DESC LIMIT 20"
	qSelectStates        = "SELECT * FROM QRTZ_SCHEDULER_STATE WHERE SCHED_NAME = 'bench'"
	qUpdateState         = "UPDATE QRTZ_SCHEDULER_STATE SET LAST_CHECKIN_TIME = ? WHERE SCHED_NAME = 'bench' AND INSTANCE_NAME = ?"
	qInsertState         = "INSERT INTO QRTZ_SCHEDULER_STATE (SCHED_NAME, INSTANCE_NAME, LAST_CHECKIN_TIME, CHECKIN_INTERVAL) VALUES ('bench', ?, ?, ?)"
	qSelectInstanceFired = "SELECT ENTRY_ID, TRIGGER_NAME, STATE FROM QRTZ_FIRED_TRIGGERS WHERE SCHED_NAME = 'bench' AND INSTANCE_NAME = ?"
	qDeleteInstanceFired = "DELETE FROM QRTZ_FIRED_TRIGGERS WHERE SCHED_NAME = 'bench' AND INSTANCE_NAME = ?"
	qDeleteState         = "DELETE FROM QRTZ_SCHEDULER_STATE WHERE SCHED_NAME = 'bench' AND INSTANCE_NAME = ?"
)

type quartzNode struct {
	db       *sql.DB
	instance string
	threads  int // the thread pool
	batch    int // batchTriggerAcquisitionMaxCount
	idleWait time.Duration
	checkin  time.Duration // clusterCheckinInterval
	misfire  time.Duration // misfireThreshold

	seq    atomic.Int64 // of fired-trigger ids
	failed func(error)
}

// fail reports an error unless the node is stopping.
func fail(ctx context.Context, failed func(error), what string, err error) {
	if err != nil && ctx.Err() == nil {
		failed(fmt.Errorf("%s: %w", what, err))
	}
}

type acquired struct {
	name    string
	fire    int64 // ms
	entryID string
}

// tx is a JobStoreTX connection: autocommit off, so that each unit of work
// is its statements and a COMMIT, as JDBC sends them.
type tx struct{ conn *sql.Conn }

func (q *quartzNode) conn(ctx context.Context) (*tx, error) {
	c, err := q.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := c.ExecContext(ctx, "SET autocommit = 0"); err != nil {
		c.Close()
		return nil, err
	}
	return &tx{conn: c}, nil
}

func (t *tx) exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := t.conn.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// read runs a query and reads every row, as the delegate does.
func (t *tx) read(ctx context.Context, query string, args ...any) error {
	rows, err := t.conn.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	for rows.Next() {
	}
	return rows.Close()
}

// unit runs f, then COMMIT; on an error, ROLLBACK.
func (t *tx) unit(ctx context.Context, f func() error) error {
	if err := f(); err != nil {
		_, _ = t.conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		return err
	}
	_, err := t.conn.ExecContext(ctx, "COMMIT")
	return err
}

func (q *quartzNode) run(ctx context.Context, emit func(string, time.Time)) error {
	main, err := q.conn(ctx)
	if err != nil {
		return err
	}
	conns := []*tx{main}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
		for _, c := range conns {
			c.conn.Close()
		}
	}()
	if err := q.checkIn(ctx, main, true); err != nil {
		return fmt.Errorf("quartz first check-in: %w", err)
	}
	wg.Go(func() { q.clusterManager(ctx) })
	wg.Go(func() { q.misfireHandler(ctx) })

	// The thread pool: a job runs and then completes on a thread of its
	// own connection, as Quartz's worker threads each get one from the pool.
	pool := make(chan *tx, q.threads)
	for range q.threads {
		c, err := q.conn(ctx)
		if err != nil {
			return err
		}
		conns = append(conns, c)
		pool <- c
	}
	for ctx.Err() == nil {
		// blockForAvailableThreads, then acquire up to that many.
		var threads []*tx
		select {
		case c := <-pool:
			threads = append(threads, c)
		case <-ctx.Done():
			return nil
		}
	more:
		for len(threads) < q.batch {
			select {
			case c := <-pool:
				threads = append(threads, c)
			default:
				break more
			}
		}
		giveBack := func(cs []*tx) {
			for _, c := range cs {
				pool <- c
			}
		}
		now := time.Now()
		trig, err := q.acquire(ctx, main, now.Add(q.idleWait).UnixMilli(), len(threads))
		if err != nil || len(trig) == 0 {
			giveBack(threads)
			fail(ctx, q.failed, "acquireNextTriggers", err)
			if err != nil && ctx.Err() == nil {
				sleep(ctx, time.Second) // Quartz retries after a failure; briefly here
				continue
			}
			// getRandomizedIdleWaitTime: idleWaitTime less up to 20 %.
			sleep(ctx, q.idleWait-time.Duration(rand.Int64N(int64(q.idleWait/5))))
			continue
		}
		// Wait until the first trigger's time, to within 2 ms.
		sleep(ctx, time.Until(time.UnixMilli(trig[0].fire))-2*time.Millisecond)
		if ctx.Err() != nil {
			giveBack(threads)
			return nil
		}
		fired, err := q.triggersFired(ctx, main, trig)
		fail(ctx, q.failed, "triggersFired", err)
		if err != nil {
			giveBack(threads)
			continue
		}
		giveBack(threads[len(fired):])
		for i, t := range fired {
			c := threads[i]
			wg.Go(func() {
				defer func() { pool <- c }()
				emit(t.name, time.UnixMilli(t.fire).UTC())
				// triggeredJobComplete, with Quartz's retry until it succeeds.
				for ctx.Err() == nil {
					err := c.unit(ctx, func() error {
						if err := c.read(ctx, qLockTriggers); err != nil {
							return err
						}
						_, err := c.exec(ctx, qDeleteFired, t.entryID)
						return err
					})
					if err == nil {
						return
					}
					fail(ctx, q.failed, "triggeredJobComplete", err)
					sleep(ctx, time.Second)
				}
			})
		}
	}
	return nil
}

// acquire is acquireNextTrigger under TRIGGER_ACCESS.
func (q *quartzNode) acquire(ctx context.Context, t *tx, noLaterThan int64, maxCount int) ([]acquired, error) {
	var got []acquired
	err := t.unit(ctx, func() error {
		if err := t.read(ctx, qLockTriggers); err != nil {
			return err
		}
		rows, err := t.conn.QueryContext(ctx, qSelectNextToAcquire, noLaterThan, time.Now().Add(-q.misfire).UnixMilli(), maxCount)
		if err != nil {
			return err
		}
		type key struct {
			name string
			fire int64
		}
		var keys []key
		for rows.Next() {
			var k key
			var group string
			var prio int
			if err := rows.Scan(&k.name, &group, &k.fire, &prio); err != nil {
				rows.Close()
				return err
			}
			keys = append(keys, k)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		batchEnd := noLaterThan
		for _, k := range keys {
			if err := t.read(ctx, qSelectTrigger, k.name); err != nil { // retrieveTrigger
				return err
			}
			if err := t.read(ctx, qSelectJobDetail, k.name); err != nil { // retrieveJob
				return err
			}
			if k.fire > batchEnd {
				break
			}
			n, err := t.exec(ctx, qUpdateStateFrom, "ACQUIRED", k.name, "WAITING")
			if err != nil {
				return err
			}
			if n == 0 {
				continue
			}
			id := fmt.Sprintf("%s%d", q.instance, q.seq.Add(1))
			if _, err := t.exec(ctx, qInsertFired, id, k.name, q.instance, time.Now().UnixMilli(), k.fire); err != nil {
				return err
			}
			if len(got) == 0 {
				batchEnd = max(k.fire, time.Now().UnixMilli()) // + timeWindow 0
			}
			got = append(got, acquired{name: k.name, fire: k.fire, entryID: id})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return got, nil
}

// triggersFired is triggerFired for each trigger, under TRIGGER_ACCESS. It
// returns the triggers to run: those still ACQUIRED.
func (q *quartzNode) triggersFired(ctx context.Context, t *tx, trig []acquired) ([]acquired, error) {
	var fired []acquired
	err := t.unit(ctx, func() error {
		fired = fired[:0]
		if err := t.read(ctx, qLockTriggers); err != nil {
			return err
		}
		for _, a := range trig {
			var state string
			if err := t.conn.QueryRowContext(ctx, qSelectTriggerState, a.name).Scan(&state); err != nil {
				return err
			}
			if state != "ACQUIRED" {
				continue
			}
			if err := t.read(ctx, qSelectJobDetail, a.name); err != nil {
				return err
			}
			now := time.Now().UnixMilli()
			if _, err := t.exec(ctx, qUpdateFired, q.instance, now, a.fire, a.name, a.entryID); err != nil {
				return err
			}
			// trigger.triggered: the cron trigger's next time after this
			// fire; storeTrigger with state WAITING.
			next := a.fire + 1000
			if err := t.read(ctx, qTriggerExists, a.name); err != nil {
				return err
			}
			if _, err := t.exec(ctx, qUpdateTrigger, a.name, next, a.fire, a.name); err != nil {
				return err
			}
			fired = append(fired, a)
		}
		return nil
	})
	return fired, err
}

// misfireHandler is Quartz's MisfireHandler thread: every misfireThreshold
// (its default frequency), when a count without the lock finds WAITING
// triggers more than misfireThreshold late, it takes TRIGGER_ACCESS and
// applies their misfire instruction, at most 20 at a time (and again at
// once while there are more). A cron trigger's smart policy is "fire once
// now": its next fire time becomes now.
func (q *quartzNode) misfireHandler(ctx context.Context) {
	c, err := q.conn(ctx)
	if err != nil {
		return
	}
	defer c.conn.Close()
	for {
		sleep(ctx, q.misfire)
		for more := true; more && ctx.Err() == nil; {
			var err error
			more, err = q.recoverMisfires(ctx, c)
			fail(ctx, q.failed, "doRecoverMisfires", err)
		}
		if ctx.Err() != nil {
			return
		}
	}
}

func (q *quartzNode) recoverMisfires(ctx context.Context, c *tx) (more bool, err error) {
	misfireTime := time.Now().Add(-q.misfire).UnixMilli()
	var n int
	err = c.unit(ctx, func() error {
		return c.conn.QueryRowContext(ctx, qCountMisfired, misfireTime).Scan(&n)
	})
	if err != nil || n == 0 {
		return false, err
	}
	err = c.unit(ctx, func() error {
		if err := c.read(ctx, qLockTriggers); err != nil {
			return err
		}
		rows, err := c.conn.QueryContext(ctx, qSelectMisfired, misfireTime)
		if err != nil {
			return err
		}
		var names []string
		for rows.Next() {
			var name, group string
			if err := rows.Scan(&name, &group); err != nil {
				rows.Close()
				return err
			}
			names = append(names, name)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		more = len(names) == 20
		for _, name := range names {
			if err := c.read(ctx, qSelectTrigger, name); err != nil { // retrieveTrigger
				return err
			}
			if err := c.read(ctx, qTriggerExists, name); err != nil { // storeTrigger
				return err
			}
			if _, err := c.exec(ctx, qUpdateTrigger, name, time.Now().UnixMilli(), -1, name); err != nil {
				return err
			}
		}
		return nil
	})
	return more, err
}

// clusterManager is Quartz's ClusterManager thread: doCheckin every
// clusterCheckinInterval, on a connection of its own.
func (q *quartzNode) clusterManager(ctx context.Context) {
	c, err := q.conn(ctx)
	if err != nil {
		return
	}
	defer c.conn.Close()
	for {
		sleep(ctx, q.checkin)
		if ctx.Err() != nil {
			return
		}
		fail(ctx, q.failed, "doCheckin", q.checkIn(ctx, c, false))
	}
}

type schedulerState struct {
	instance string
	checkin  int64
	interval int64
}

// checkIn is doCheckin: clusterCheckIn in a transaction of its own, and,
// when another instance has failed (or on the first check-in), the same
// again under STATE_ACCESS, with recovery under TRIGGER_ACCESS.
func (q *quartzNode) checkIn(ctx context.Context, c *tx, first bool) error {
	var failed []schedulerState
	clusterCheckIn := func() error {
		var err error
		if failed, err = q.findFailed(ctx, c); err != nil {
			return err
		}
		n, err := c.exec(ctx, qUpdateState, time.Now().UnixMilli(), q.instance)
		if err == nil && n == 0 {
			_, err = c.exec(ctx, qInsertState, q.instance, time.Now().UnixMilli(), q.checkin.Milliseconds())
		}
		return err
	}
	if !first {
		if err := c.unit(ctx, clusterCheckIn); err != nil {
			return err
		}
		if len(failed) == 0 {
			return nil
		}
	}
	return c.unit(ctx, func() error {
		if err := c.read(ctx, qLockState); err != nil {
			return err
		}
		if first {
			if err := clusterCheckIn(); err != nil {
				return err
			}
		} else {
			var err error
			if failed, err = q.findFailed(ctx, c); err != nil {
				return err
			}
		}
		if len(failed) == 0 {
			return nil
		}
		if err := c.read(ctx, qLockTriggers); err != nil {
			return err
		}
		// clusterRecover: the failed instance's acquired triggers go back to
		// WAITING (its executing ones are not recovered: their jobs do not
		// request recovery), then its fired rows and state row go.
		for _, f := range failed {
			rows, err := c.conn.QueryContext(ctx, qSelectInstanceFired, f.instance)
			if err != nil {
				return err
			}
			var names []string
			for rows.Next() {
				var id, name, state string
				if err := rows.Scan(&id, &name, &state); err != nil {
					rows.Close()
					return err
				}
				if state == "ACQUIRED" {
					names = append(names, name)
				}
			}
			if err := rows.Close(); err != nil {
				return err
			}
			for _, name := range names {
				if _, err := c.exec(ctx, qUpdateStateFrom, "WAITING", name, "ACQUIRED"); err != nil {
					return err
				}
			}
			if _, err := c.exec(ctx, qDeleteInstanceFired, f.instance); err != nil {
				return err
			}
			if _, err := c.exec(ctx, qDeleteState, f.instance); err != nil {
				return err
			}
		}
		return nil
	})
}

// findFailed is findFailedInstances with calcFailedIfAfter: an instance is
// failed when its last check-in plus its interval (or the time since this
// node's own last check-in, if longer) plus 7.5 s has passed.
func (q *quartzNode) findFailed(ctx context.Context, c *tx) ([]schedulerState, error) {
	rows, err := c.conn.QueryContext(ctx, qSelectStates)
	if err != nil {
		return nil, err
	}
	var all []schedulerState
	for rows.Next() {
		var s schedulerState
		var sched string
		if err := rows.Scan(&sched, &s.instance, &s.checkin, &s.interval); err != nil {
			rows.Close()
			return nil, err
		}
		all = append(all, s)
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	now := time.Now().UnixMilli()
	var own int64 = now
	for _, s := range all {
		if s.instance == q.instance {
			own = s.checkin
		}
	}
	var failed []schedulerState
	for _, s := range all {
		if s.instance == q.instance {
			continue
		}
		if s.checkin+max(s.interval, now-own)+7500 < now {
			failed = append(failed, s)
		}
	}
	return failed, nil
}

// The statements of the db-scheduler model, as JdbcTaskRepository builds
// them for the table scheduled_tasks.
const (
	dSelectForUpdate = "SELECT * FROM scheduled_tasks WHERE picked = ? AND execution_time <= ? ORDER BY execution_time ASC LIMIT ? FOR UPDATE SKIP LOCKED"
	dPick            = "UPDATE scheduled_tasks SET picked = ?, picked_by = ?, last_heartbeat = ?, version = version + 1 WHERE task_name = ? AND task_instance = ?"
	dReschedule      = "UPDATE scheduled_tasks SET picked = ?, picked_by = ?, last_heartbeat = ?, last_success = ?, last_failure = ?, consecutive_failures = ?, execution_time = ?, version = version + 1 WHERE task_name = ? AND task_instance = ? AND version = ?"
	dHeartbeat       = "UPDATE scheduled_tasks SET last_heartbeat = ? WHERE task_name = ? AND task_instance = ? AND version = ?"
	dDead            = "SELECT * FROM scheduled_tasks WHERE picked = ? AND last_heartbeat <= ? ORDER BY last_heartbeat ASC"
)

type dbSchedulerNode struct {
	db           *sql.DB
	name         string
	threads      int
	lower, upper int // lock-and-fetch limits, in executions
	poll         time.Duration
	heartbeat    time.Duration
	missedLimit  int

	failed func(error)

	mu        sync.Mutex
	executing map[string]int64 // task_name -> picked version
}

type execution struct {
	task    string
	when    time.Time
	version int64
}

func (d *dbSchedulerNode) run(ctx context.Context, emit func(string, time.Time)) error {
	d.executing = map[string]int64{}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	work := make(chan execution)
	defer func() {
		cancel()
		close(work)
		wg.Wait()
	}()
	wg.Go(func() { d.housekeeping(ctx) })

	// The executor: threads workers, each taking a connection from the pool
	// (database/sql's) for its completion.
	done := make(chan struct{}, d.threads)
	for range d.threads {
		wg.Go(func() {
			for e := range work {
				emit(e.task, e.when)
				d.complete(ctx, e)
				done <- struct{}{}
			}
		})
	}
	var queue []execution
	inFlight := 0 // handed to a thread, not yet completed
	for ctx.Err() == nil {
		limit := d.upper - inFlight - len(queue)
		batch, err := d.lockAndFetch(ctx, limit)
		fail(ctx, d.failed, "lockAndFetch", err)
		if err != nil {
			batch = nil
		}
		queue = append(queue, batch...)
		// A full batch is fetched again as soon as it has been worked down
		// to the lower limit; otherwise the next poll is after the
		// polling interval.
		full := limit > 0 && len(batch) == limit
		timer := time.NewTimer(d.poll)
	wait:
		for {
			if full && len(queue)+inFlight <= d.lower {
				break
			}
			var send chan execution
			var next execution
			if len(queue) > 0 {
				send, next = work, queue[0]
			}
			select {
			case send <- next:
				queue = queue[1:]
				inFlight++
			case <-done:
				inFlight--
			case <-timer.C:
				if !full {
					break wait
				}
			case <-ctx.Done():
				break wait
			}
		}
		timer.Stop()
	}
	return nil
}

// lockAndFetch is lockAndFetchGeneric.
func (d *dbSchedulerNode) lockAndFetch(ctx context.Context, limit int) ([]execution, error) {
	if limit <= 0 {
		return nil, nil
	}
	tx, err := d.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	rows, err := tx.QueryContext(ctx, dSelectForUpdate, false, time.Now().UTC(), limit)
	if err != nil {
		return nil, err
	}
	got, err := scanExecutions(rows)
	if err != nil {
		return nil, err
	}
	if len(got) == 0 {
		return nil, tx.Commit()
	}
	now := time.Now().UTC()
	for i := range got {
		if _, err := tx.ExecContext(ctx, dPick, true, d.name, now, got[i].task, "recurring"); err != nil {
			return nil, err
		}
		got[i].version++
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	d.mu.Lock()
	for _, e := range got {
		d.executing[e.task] = e.version
	}
	d.mu.Unlock()
	return got, nil
}

// scanExecutions reads the rows of a SELECT * on scheduled_tasks, as
// db-scheduler maps every column, and closes them.
func scanExecutions(rows *sql.Rows) ([]execution, error) {
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var got []execution
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		var e execution
		for i, c := range cols {
			switch c {
			case "task_name":
				e.task = vals[i].String
			case "execution_time":
				if e.when, err = parseDBTime(vals[i].String); err != nil {
					return nil, err
				}
			case "version":
				if e.version, err = strconv.ParseInt(vals[i].String, 10, 64); err != nil {
					return nil, err
				}
			}
		}
		got = append(got, e)
	}
	return got, rows.Close()
}

// parseDBTime reads a TIMESTAMP(6) as the driver hands it to a string: in
// RFC 3339 when it parsed the time, else as the server sent it.
func parseDBTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	return time.ParseInLocation("2006-01-02 15:04:05.999999", s, time.UTC)
}

// complete is the recurring task's completion handler: reschedule to the
// schedule's next time after now (a cron schedule every second).
func (d *dbSchedulerNode) complete(ctx context.Context, e execution) {
	now := time.Now().UTC()
	next := now.Truncate(time.Second).Add(time.Second)
	for ctx.Err() == nil {
		_, err := d.db.ExecContext(ctx, dReschedule, false, nil, nil, now, nil, 0, next, e.task, "recurring", e.version)
		if err == nil {
			break
		}
		fail(ctx, d.failed, "reschedule", err)
		sleep(ctx, 100*time.Millisecond)
	}
	d.mu.Lock()
	delete(d.executing, e.task)
	d.mu.Unlock()
}

// housekeeping updates the heartbeats of executing rows and revives dead
// executions, every heartbeatInterval.
func (d *dbSchedulerNode) housekeeping(ctx context.Context) {
	for {
		sleep(ctx, d.heartbeat)
		if ctx.Err() != nil {
			return
		}
		d.mu.Lock()
		var beats []execution
		for task, v := range d.executing {
			beats = append(beats, execution{task: task, version: v})
		}
		d.mu.Unlock()
		for _, e := range beats {
			_, err := d.db.ExecContext(ctx, dHeartbeat, time.Now().UTC(), e.task, "recurring", e.version)
			fail(ctx, d.failed, "updateHeartbeat", err)
		}
		olderThan := time.Now().UTC().Add(-d.heartbeat * time.Duration(d.missedLimit))
		rows, err := d.db.QueryContext(ctx, dDead, true, olderThan)
		if err != nil {
			fail(ctx, d.failed, "getDeadExecutions", err)
			continue
		}
		dead, err := scanExecutions(rows)
		if err != nil {
			fail(ctx, d.failed, "getDeadExecutions", err)
			continue
		}
		// ReviveDeadExecution: reschedule to now.
		for _, e := range dead {
			_, err := d.db.ExecContext(ctx, dReschedule, false, nil, nil, nil, time.Now().UTC(), 1, time.Now().UTC(), e.task, "recurring", e.version)
			fail(ctx, d.failed, "reviveDeadExecution", err)
		}
	}
}

// distributorNames are the alternatives' display names.
var distributorNames = map[string]string{"quartz": "Quartz cluster", "dbscheduler": "db-scheduler", "soloist": "Soloist balanced"}

func kindName(kind string) string {
	if n, ok := distributorNames[kind]; ok {
		return n
	}
	return strings.ToUpper(kind)
}
