package faults_test

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/soloist-dev/soloist/internal/dbserver"
)

// libfaketime finds Debian's libfaketime, or fails with how to install it.
func libfaketime(t *testing.T) string {
	t.Helper()
	for _, pattern := range []string{"/usr/lib/*/faketime/libfaketimeMT.so.1", "/usr/lib/faketime/libfaketimeMT.so.1", "/usr/local/lib/faketime/libfaketimeMT.so.1"} {
		if m, _ := filepath.Glob(pattern); len(m) > 0 {
			return m[0]
		}
	}
	t.Fatal("libfaketime not found: install it (Debian/Ubuntu: apt-get install -y faketime)")
	return ""
}

// TestSkewedClocks runs the group with the database's clock an hour ahead
// and an hour behind the runners' (libfaketime in the database server:
// Go binaries read the clock through the vDSO, which libfaketime cannot
// reach, so the skew is put on the other side of the same gap), with the
// runners in time zones far from UTC (TZ=Pacific/Kiritimati, UTC+14, and
// Etc/GMT+12, UTC-12) and sessions in +13:00 and -12:00. Fires must follow
// the database clock, leases and takeovers must work as without skew, and
// nothing may overlap or run twice.
func TestSkewedClocks(t *testing.T) {
	t.Parallel()
	lib := libfaketime(t)
	for _, skew := range []struct {
		name   string
		offset string
		want   time.Duration
	}{
		{"DatabaseAnHourAhead", "+1h", time.Hour},
		{"DatabaseAnHourBehind", "-1h", -time.Hour},
	} {
		t.Run(skew.name, func(t *testing.T) {
			t.Parallel()
			const ttl = time.Second
			zones := []string{"Pacific/Kiritimati", "Etc/GMT+12", "Asia/Kathmandu"}
			sessions := []string{"'+13:00'", "'-12:00'", "'+05:45'"}
			c := newCluster(t, clusterOptions{
				runners: 3, ttl: ttl, crontab: crontabEverySecond,
				server:    &dbserver.Options{Env: []string{"LD_PRELOAD=" + lib, "FAKETIME=" + skew.offset, "FAKETIME_DONT_FAKE_MONOTONIC=1"}},
				runnerEnv: func(i int) []string { return []string{"TZ=" + zones[i%len(zones)]} },
				dsnParams: func(i int) map[string]string { return map[string]string{"time_zone": sessions[i%len(sessions)]} },
			})
			var dbNow time.Time
			if err := c.db.QueryRow("SELECT UTC_TIMESTAMP(6)").Scan(&dbNow); err != nil {
				t.Fatal(err)
			}
			if d := dbNow.Sub(time.Now()) - skew.want; d > time.Minute || d < -time.Minute {
				t.Fatalf("the database's clock is %v off this machine's, want %v", dbNow.Sub(time.Now()), skew.want)
			}
			leader, _ := c.waitHolder(nil, 20*time.Second)
			c.waitRuns(3, 20*time.Second)
			c.signal(leader, syscall.SIGKILL)
			c.waitHolder(leader, ttl+5*time.Second)
			c.restart(leader)
			time.Sleep(4 * time.Second)
			c.stopAll()

			got := c.check(everySecond)
			got.Faults = 1
			// Every run started within a second of its fire time, both by the
			// database clock: the fires followed the database, not the
			// runners' clocks an hour away, nor their time zones.
			rows, err := c.db.Query("SELECT fire_time, started_at FROM runs WHERE lease_name = ? AND job = 'tick' AND outcome = 'succeeded'", c.group)
			if err != nil {
				t.Fatal(err)
			}
			worst := time.Duration(0)
			for rows.Next() {
				var fire, started time.Time
				if err := rows.Scan(&fire, &started); err != nil {
					t.Fatal(err)
				}
				late := started.Sub(fire)
				if late < 0 {
					t.Errorf("fire %s started %v early by the database clock", fire, -late)
				}
				worst = max(worst, late)
			}
			rows.Close()
			t.Logf("database clock %v off the runners'; the latest start of a fire was %v after its time (the takeover's fires included)",
				skew.want, worst.Round(time.Millisecond))
			if worst > ttl+2*time.Second {
				t.Errorf("a fire started %v late", worst)
			}
			report(t, got)
			requireQuickTakeovers(t, c, got)
		})
	}
}
