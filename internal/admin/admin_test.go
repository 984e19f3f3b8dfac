package admin_test

import (
	"context"
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
