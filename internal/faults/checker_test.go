package faults_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// event is a line of the ledger (see the ledger command).
type event struct {
	Ev     string    `json:"ev"`
	Job    string    `json:"job"`
	Fire   time.Time `json:"fire"`
	Token  uint64    `json:"token"`
	Owner  string    `json:"owner"`
	RunID  int64     `json:"run_id"`
	Mono   int64     `json:"mono"`
	Wall   time.Time `json:"wall"`
	Pid    int       `json:"pid"`
	Killed bool      `json:"killed"`
	OK     bool      `json:"ok"`
	Err    string    `json:"err"`
}

func readLedger(t testing.TB, path string) []event {
	t.Helper()
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var evs []event
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("ledger line %q: %v", sc.Text(), err)
		}
		evs = append(evs, e)
	}
	return evs
}

// execution is one run of a job's command, from its ledger lines.
type execution struct {
	job, owner string
	fire       time.Time
	token      uint64
	runID      int64
	start, end int64 // CLOCK_MONOTONIC ns; end 0 if none
	startWall  time.Time
	endWall    time.Time
	killed     bool
	// sigkilled: the command was killed with SIGKILL before it could write
	// its end; the end is when its runner reaped it (see reaped).
	sigkilled bool
	// stillborn: killed before it wrote its start; it did no work, and it
	// counts as an instant at its end.
	stillborn bool
	fence     *event
	unfenced  *event
}

func (e *execution) String() string {
	return fmt.Sprintf("%s@%s by %s (token %d, run %d)", e.job, e.fire.Format("15:04:05"), e.owner, e.token, e.runID)
}

// executions reads the ledger into executions, by run id.
func (c *cluster) executions() map[int64]*execution {
	byRun := map[int64]*execution{}
	for _, ev := range readLedger(c.t, c.ledger) {
		e := byRun[ev.RunID]
		if e == nil {
			e = &execution{job: ev.Job, owner: ev.Owner, fire: ev.Fire, token: ev.Token, runID: ev.RunID}
			byRun[ev.RunID] = e
		}
		switch ev.Ev {
		case "start":
			if e.start != 0 {
				c.t.Errorf("run %d started twice", ev.RunID)
			}
			e.start, e.startWall = ev.Mono, ev.Wall
		case "end":
			e.end, e.endWall, e.killed = ev.Mono, ev.Wall, ev.Killed
		case "fence":
			ev := ev
			e.fence = &ev
		case "unfenced":
			ev := ev
			e.unfenced = &ev
		}
	}
	reaped := c.reaped()
	for _, e := range byRun {
		switch {
		case e.start == 0 && e.end != 0:
			e.start, e.startWall, e.stillborn = e.end, e.endWall, true
		case e.start != 0 && e.end == 0:
			if at, ok := reaped[e.runID]; ok {
				e.end = e.start + int64(at.Sub(e.startWall))
				e.endWall, e.killed, e.sigkilled = at, true, true
			}
		}
	}
	return byRun
}

// reaped are the runs whose command its runner killed with SIGKILL (after
// SIGTERM and the kill grace), by run id, with the time the runner logged
// the run finished, after it had reaped the command: a command that got no
// CPU within the kill grace writes no end in the ledger.
func (c *cluster) reaped() map[int64]time.Time {
	at := map[int64]time.Time{}
	for _, r := range c.runners {
		for _, p := range append(slices.Clone(r.past), r.run) {
			for _, line := range strings.Split(p.Output(), "\n") {
				if !strings.Contains(line, `"run finished"`) || !strings.Contains(line, "signal: killed") {
					continue
				}
				var l struct {
					Time  time.Time `json:"time"`
					RunID int64     `json:"run_id"`
				}
				if json.Unmarshal([]byte(line), &l) == nil && l.RunID != 0 {
					at[l.RunID] = l.Time
				}
			}
		}
	}
	return at
}

// lastStartBy is the latest execution of job that owner started under
// token and has not ended, or nil.
func (c *cluster) lastStartBy(owner string, token uint64, job string) *execution {
	var last *execution
	for _, e := range c.executions() {
		if e.owner == owner && e.token == token && e.job == job && e.end == 0 && (last == nil || e.start > last.start) {
			last = e
		}
	}
	return last
}

// figures are what a scenario found, printed by every fault test.
type figures struct {
	Executions     int
	Fires          int // rows in runs
	Faults         int // faults injected
	Overlaps       int
	Excused        int // overlaps the scenario expects (a frozen runner's job in flight)
	Doubles        int // fires executed more than once
	Unrecorded     int // gaps in a job's fires: neither run nor recorded missed
	Unexplained    int // run rows whose outcome the ledger contradicts
	Backwards      int // tokens that went back
	FencedOK       int
	FencedRejected int
	StaleFenced    int // fenced writes committed out of token order
	Unterminated   int // executions with a start and no end
	SIGKILLed      int // ended by SIGKILL: the end is when the runner reaped them
	Stillborn      int // killed before they wrote their start
	Expired        []time.Duration
	Released       []time.Duration
}

func (f figures) String() string {
	return fmt.Sprintf("executions=%d fires=%d faults=%d overlaps=%d excused_overlaps=%d double_fires=%d unrecorded_fires=%d unexplained=%d "+
		"tokens_backwards=%d fenced_ok=%d fenced_rejected=%d stale_fenced_committed=%d unterminated=%d "+
		"takeover_after_expiry=%s takeover_after_release=%s sigkilled=%d killed_before_start=%d",
		f.Executions, f.Fires, f.Faults, f.Overlaps, f.Excused, f.Doubles, f.Unrecorded, f.Unexplained,
		f.Backwards, f.FencedOK, f.FencedRejected, f.StaleFenced, f.Unterminated, stats(f.Expired), stats(f.Released), f.SIGKILLed, f.Stillborn)
}

// worstExpired is the longest takeover after a lease expired.
func (f figures) worstExpired() time.Duration {
	var w time.Duration
	for _, d := range f.Expired {
		w = max(w, d)
	}
	return w
}

func stats(ds []time.Duration) string {
	if len(ds) == 0 {
		return "none"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return fmt.Sprintf("n=%d,median=%v,max=%v", len(s), s[len(s)/2].Round(time.Millisecond), s[len(s)-1].Round(time.Millisecond))
}

// checkOptions tune the checker for a scenario.
type checkOptions struct {
	// period is each job's schedule period: its recorded fires must be
	// contiguous from the first to the last.
	period map[string]time.Duration
	// mayOverlap excuses an overlap of b with an earlier a (the SIGSTOP
	// scenario shows what an unfenced command in flight can do).
	mayOverlap func(a, b *execution) bool
}

// check reads the ledger, the run history and the lease terms, fails the
// test on any violation of the guarantees, and returns the figures.
func (c *cluster) check(o checkOptions) figures {
	t := c.t
	t.Helper()
	var f figures
	byRun := c.executions()
	var execs []*execution
	for _, e := range byRun {
		execs = append(execs, e)
		if e.sigkilled {
			f.SIGKILLed++
		}
		if e.stillborn {
			f.Stillborn++
		}
		if e.fence != nil && e.fence.OK {
			f.FencedOK++
		} else if e.fence != nil {
			f.FencedRejected++
		}
	}
	f.Executions = len(execs)

	// 1. No two executions of a job overlap; each fire executes at most once.
	sort.Slice(execs, func(i, j int) bool { return execs[i].start < execs[j].start })
	perJob := map[string][]*execution{}
	perFire := map[string]int{}
	for _, e := range execs {
		if e.end == 0 {
			f.Unterminated++
			t.Errorf("execution %s has no end in the ledger", e)
			continue
		}
		for _, prev := range perJob[e.job] {
			switch {
			case e.start >= prev.end:
			case o.mayOverlap != nil && o.mayOverlap(prev, e):
				f.Excused++
			default:
				f.Overlaps++
				t.Errorf("overlap: %s started %v before %s ended", e, time.Duration(prev.end-e.start), prev)
			}
		}
		perJob[e.job] = append(perJob[e.job], e)
		key := e.job + "@" + e.fire.String()
		if perFire[key]++; perFire[key] == 2 {
			f.Doubles++
			t.Errorf("fire %s executed twice", key)
		}
	}
	// 2. Each lease's tokens never go backwards, in the order executions
	// started (the group's lease in leader mode, each job's own in
	// balanced mode), and each execution ran under a term of its lease
	// that its runner held.
	lastToken := map[string]uint64{}
	for _, e := range execs {
		lease := c.lease(e.job)
		if last := lastToken[lease]; e.token < last {
			f.Backwards++
			t.Errorf("%s started after an execution with token %d of lease %s", e, last, lease)
		}
		lastToken[lease] = max(lastToken[lease], e.token)
	}
	terms := c.terms()
	for _, e := range execs {
		if h, ok := terms[termKey{c.lease(e.job), e.token}]; !ok || h != e.owner {
			f.Unexplained++
			t.Errorf("%s ran under token %d of lease %s, whose term was held by %q", e, e.token, c.lease(e.job), h)
		}
	}

	// 3. The history: every fire of a job from its first to its last is
	// recorded once, and what ran agrees with the ledger.
	rows, err := c.db.Query("SELECT id, job, fire_time, outcome, token FROM runs WHERE lease_name = ? ORDER BY job, fire_time", c.group)
	if err != nil {
		t.Fatal(err)
	}
	prev := map[string]time.Time{}
	for rows.Next() {
		var id int64
		var job, outcome string
		var fire time.Time
		var token uint64
		if err := rows.Scan(&id, &job, &fire, &outcome, &token); err != nil {
			t.Fatal(err)
		}
		f.Fires++
		if p, ok := prev[job]; ok && o.period[job] > 0 && fire.Sub(p) != o.period[job] {
			f.Unrecorded += int(fire.Sub(p)/o.period[job]) - 1
			t.Errorf("job %s: no record of the fires between %s and %s", job, p.Format(time.TimeOnly), fire.Format(time.TimeOnly))
		}
		prev[job] = fire
		e := byRun[id]
		switch {
		case outcome == "missed" && e != nil:
			f.Unexplained++
			t.Errorf("run %d of %s is recorded missed but executed", id, job)
		case outcome == "succeeded" && (e == nil || e.start == 0):
			f.Unexplained++
			t.Errorf("run %d of %s@%s is recorded succeeded but never executed", id, job, fire.Format(time.TimeOnly))
		case e != nil && e.token != token:
			f.Unexplained++
			t.Errorf("run %d ran under token %d but is recorded with %d", id, e.token, token)
		}
	}
	rows.Close()

	// 4. Fenced writes committed in token order, per lease: a stale
	// holder's never committed after a newer holder's.
	rows, err = c.db.Query("SELECT job, token FROM fenced_writes WHERE owner LIKE CONCAT('%/', ?, '-%') ORDER BY id", c.group)
	if err != nil {
		t.Fatal(err)
	}
	clear(lastToken)
	for rows.Next() {
		var job string
		var token uint64
		if err := rows.Scan(&job, &token); err != nil {
			t.Fatal(err)
		}
		lease := c.lease(job)
		if last := lastToken[lease]; token < last {
			f.StaleFenced++
			t.Errorf("a fenced write of lease %s with token %d committed after one with token %d", lease, token, last)
		}
		lastToken[lease] = max(lastToken[lease], token)
	}
	rows.Close()

	// 5. Takeovers, from the database's record of the terms of each lease.
	for _, lease := range c.leases() {
		rows, err = c.db.Query(`SELECT a.end_reason, TIMESTAMPDIFF(MICROSECOND, a.ended_at, b.acquired_at)
			FROM lease_terms a JOIN lease_terms b ON b.name = a.name AND b.token = a.token + 1
			WHERE a.name = ? ORDER BY a.token`, lease)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var reason string
			var us int64
			if err := rows.Scan(&reason, &us); err != nil {
				t.Fatal(err)
			}
			d := time.Duration(us) * time.Microsecond
			if d < 0 {
				t.Errorf("a term of %s began %v before the previous one ended", lease, -d)
			}
			if reason == "expired" {
				f.Expired = append(f.Expired, d)
			} else {
				f.Released = append(f.Released, d)
			}
		}
		rows.Close()
	}
	return f
}

// termKey names a term: a lease and its token.
type termKey struct {
	lease string
	token uint64
}

// terms are the holders of the terms of the group's leases (see leases).
func (c *cluster) terms() map[termKey]string {
	held := map[termKey]string{}
	for _, lease := range c.leases() {
		rows, err := c.db.Query("SELECT token, CONVERT(holder USING utf8mb4) FROM lease_terms WHERE name = ?", lease)
		if err != nil {
			c.t.Fatal(err)
		}
		for rows.Next() {
			var token uint64
			var holder string
			if err := rows.Scan(&token, &holder); err != nil {
				c.t.Fatal(err)
			}
			held[termKey{lease, token}] = holder
		}
		rows.Close()
	}
	return held
}

// report logs a scenario's figures in the line docs/reliability.md quotes.
func report(t *testing.T, f figures) {
	t.Helper()
	t.Logf("FIGURES %s: %s", t.Name(), f)
	if f.Fires == 0 {
		t.Error("no fires recorded at all")
	}
}

// requireQuickTakeovers checks the takeovers after an expiry: within 100 ms
// in the long form (make faults, on a quiet machine), within a second in the
// short form that CI runs beside everything else. In balanced mode a free
// job is taken at a runner's next round, not on a wake-up, and by two calls
// (balance_renew, then acquire_job): one interval (TTL/3) plus a second in
// both forms.
func requireQuickTakeovers(t *testing.T, c *cluster, f figures) {
	t.Helper()
	limit := time.Second
	switch {
	case c.opts.balance:
		limit = c.opts.ttl/3 + time.Second
	case longForm():
		limit = 100 * time.Millisecond
	}
	if w := f.worstExpired(); w > limit {
		t.Errorf("a lease that expired was taken over %v after its expiry; the bound is %v", w, limit)
	}
}
