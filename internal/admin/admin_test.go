package admin_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/soloist-dev/soloist/internal/admin"
	"github.com/soloist-dev/soloist/internal/dberr"
	"github.com/soloist-dev/soloist/internal/dbtest"
	"github.com/soloist-dev/soloist/internal/store"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func TestRevokeReportsTheHolderItRevoked(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	ctx := context.Background()
	if r, err := admin.Revoke(ctx, d.DB, "g"); err != nil || r.Revoked {
		t.Fatalf("Revoke of a group nobody holds: %+v, %v; want not revoked", r, err)
	}
	s := store.New(d.DB)
	defer s.Close()
	l, err := s.TryAcquire(ctx, "g", "10.0.0.1/a", time.Minute)
	if err != nil || !l.Acquired {
		t.Fatalf("TryAcquire: %+v, %v", l, err)
	}
	r, err := admin.Revoke(ctx, d.DB, "g")
	if err != nil || !r.Revoked || r.Holder != "10.0.0.1/a" || r.Token != l.Token {
		t.Fatalf("Revoke: %+v, %v; want the lease of 10.0.0.1/a with token %d revoked", r, err, l.Token)
	}
	if renewed, err := s.Heartbeat(ctx, "g", "10.0.0.1/a", l.Token, time.Minute); err != nil || renewed {
		t.Fatalf("heartbeat after Revoke: renewed %v, %v; want refused", renewed, err)
	}
}

func TestPauseAndResumeAJob(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	ctx := context.Background()
	c, err := admin.Pause(ctx, d.DB, "g", "nightly")
	if err != nil || !c.Paused || c.Known {
		t.Fatalf("Pause of a job nobody registered: %+v, %v; want paused and not known", c, err)
	}
	c, err = admin.Resume(ctx, d.DB, "g", "nightly")
	if err != nil || c.Paused {
		t.Fatalf("Resume: %+v, %v; want not paused", c, err)
	}
}

func TestAllowAndDisallowCountTheHosts(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	ctx := context.Background()
	for i, host := range []string{"10.0.0.1", "10.0.0.2"} {
		if n, err := admin.Allow(ctx, d.DB, "g", host); err != nil || n != int64(i+1) {
			t.Fatalf("Allow %s: %d hosts, %v; want %d", host, n, err, i+1)
		}
	}
	n, revoked, err := admin.Disallow(ctx, d.DB, "g", "10.0.0.1")
	if err != nil || n != 1 || revoked {
		t.Fatalf("Disallow: %d hosts, revoked %v, %v; want 1 host left and nothing revoked", n, revoked, err)
	}
}

// refused reports whether err is a procedure's refusal, SQLSTATE 45000.
func refused(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && string(me.SQLState[:]) == "45000"
}

// owner is the runner that leads group "g" in the forget tests.
const owner = "10.0.0.1/a"

// leadGroupG gives a new database, a store on it, and owner's lease on "g".
func leadGroupG(t *testing.T) (*dbtest.Database, *store.Store, store.Lease) {
	t.Helper()
	d := dbtest.NewDatabase(t)
	s := store.New(d.DB)
	t.Cleanup(func() { s.Close() })
	l, err := s.TryAcquire(context.Background(), "g", owner, time.Minute)
	if err != nil || !l.Acquired {
		t.Fatalf("TryAcquire: %+v, %v", l, err)
	}
	return d, s, l
}

func TestForgetJobWaitsForItsRunAndKeepsItsHistory(t *testing.T) {
	t.Parallel()
	d, s, l := leadGroupG(t)
	ctx := context.Background()
	_, now, err := s.BeginTerm(ctx, "g", owner, l.Token)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SyncJob(ctx, "g", owner, l.Token, "old", "@hourly"); err != nil {
		t.Fatal(err)
	}
	c, err := s.ClaimFire(ctx, store.Claim{Lock: "g", Owner: owner, Token: l.Token, Job: "old", Fire: now.Truncate(time.Second)})
	if err != nil || !c.Claimed {
		t.Fatalf("ClaimFire: %+v, %v", c, err)
	}
	if forgotten, err := admin.ForgetJob(ctx, d.DB, "g", "old"); !refused(err) || forgotten {
		t.Fatalf("ForgetJob during a run: forgotten %v, %v; want refused with 45000", forgotten, err)
	}
	if ok, err := s.FinishRun(ctx, c.RunID, owner, "succeeded", "", ""); err != nil || !ok {
		t.Fatalf("FinishRun: %v, %v", ok, err)
	}
	if forgotten, err := admin.ForgetJob(ctx, d.DB, "g", "old"); err != nil || !forgotten {
		t.Fatalf("ForgetJob: forgotten %v, %v; want forgotten", forgotten, err)
	}
	if forgotten, err := admin.ForgetJob(ctx, d.DB, "g", "old"); err != nil || forgotten {
		t.Fatalf("ForgetJob of a forgotten job: forgotten %v, %v; want false", forgotten, err)
	}
	var jobs, runs int
	if err := d.DB.QueryRow("SELECT (SELECT COUNT(*) FROM jobs), (SELECT COUNT(*) FROM runs)").Scan(&jobs, &runs); err != nil {
		t.Fatal(err)
	}
	if jobs != 0 || runs != 1 {
		t.Fatalf("after ForgetJob: %d job rows and %d runs; want 0 and the 1 run kept", jobs, runs)
	}
}

func TestForgetGroupRefusesALiveLeaseAndNeverReusesATokenAfter(t *testing.T) {
	t.Parallel()
	d, s, l := leadGroupG(t)
	ctx := context.Background()
	if _, err := s.SyncJob(ctx, "g", owner, l.Token, "j", "@hourly"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Allow(ctx, d.DB, "g", "10.0.0.1"); err != nil {
		t.Fatal(err)
	}
	listed := func() (leases, jobs int) {
		t.Helper()
		if err := d.DB.QueryRow("SELECT (SELECT COUNT(*) FROM lease_status), (SELECT COUNT(*) FROM jobs)").Scan(&leases, &jobs); err != nil {
			t.Fatal(err)
		}
		return leases, jobs
	}
	if g, err := admin.ForgetGroup(ctx, d.DB, "g"); !refused(err) || g.Forgotten {
		t.Fatalf("ForgetGroup of a live lease: %+v, %v; want refused with 45000", g, err)
	}
	if leases, jobs := listed(); leases != 1 || jobs != 1 {
		t.Fatalf("the refused ForgetGroup changed rows: %d leases listed, %d jobs", leases, jobs)
	}
	if ok, err := s.Release(ctx, "g", owner, l.Token); err != nil || !ok {
		t.Fatalf("Release: %v, %v", ok, err)
	}
	g, err := admin.ForgetGroup(ctx, d.DB, "g")
	if err != nil || !g.Forgotten || g.Jobs != 1 || g.Hosts != 1 {
		t.Fatalf("ForgetGroup: %+v, %v; want forgotten with 1 job and 1 host", g, err)
	}
	if leases, jobs := listed(); leases != 0 || jobs != 0 {
		t.Fatalf("after ForgetGroup: %d leases listed, %d jobs; want none", leases, jobs)
	}
	if g, err := admin.ForgetGroup(ctx, d.DB, "g"); err != nil || g.Forgotten {
		t.Fatalf("ForgetGroup again: %+v, %v; want nothing left to forget", g, err)
	}
	again, err := s.TryAcquire(ctx, "g", "10.0.0.2/b", time.Minute)
	if err != nil || !again.Acquired || again.Token <= l.Token {
		t.Fatalf("TryAcquire after ForgetGroup: %+v, %v; want acquired with a token above %d", again, err, l.Token)
	}
	if leases, _ := listed(); leases != 1 {
		t.Fatalf("the group taken again is not listed: %d leases", leases)
	}
}

func TestErrorsAreTheDriversForDberrToClassify(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	empty := dbtest.NewEmptyDatabase(t)
	if _, err := admin.Revoke(ctx, empty.DB, "g"); dberr.Classify(err) != dberr.NotMigrated {
		t.Fatalf("Revoke without the schema: %v; want a NotMigrated error", err)
	}
	d := dbtest.NewDatabase(t)
	cfg := d.NewUser(t, "GRANT EXECUTE ON PROCEDURE {db}.lease_report")
	db := d.Open(t, func(c *mysql.Config) { c.User, c.Passwd = cfg.User, cfg.Passwd })
	if _, _, err := admin.Disallow(ctx, db, "g", "10.0.0.1"); dberr.Classify(err) != dberr.NoPrivilege {
		t.Fatalf("Disallow without EXECUTE on it: %v; want a NoPrivilege error", err)
	}
}
