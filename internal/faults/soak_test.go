package faults_test

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/soloist-dev/soloist"
	"github.com/soloist-dev/soloist/internal/dbserver"
)

// TestSoak runs many runners in four groups with many jobs against one
// server for a bounded time: 200 runners and 100 jobs for 10 minutes in the
// long form, 24 runners and 20 jobs for 40 seconds here. Every group must
// record each fire of each job exactly once with no overlap, and the memory
// and goroutines of the runners must stay flat.
func TestSoak(t *testing.T) {
	t.Parallel()
	runnersPerGroup, jobsPerGroup, duration := 6, 5, 40*time.Second
	if longForm() {
		runnersPerGroup, jobsPerGroup, duration = 50, 25, 10*time.Minute
	}
	const groups, ttl = 4, 5 * time.Second
	srv, err := dbserver.Start(context.Background(), dbserver.Options{MaxConnections: 3000})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	database := createMigrated(t, srv)

	// Each job fires every 5 seconds, the jobs spread over the 5 seconds.
	var ct strings.Builder
	period := map[string]time.Duration{}
	for j := range jobsPerGroup {
		name := fmt.Sprintf("job-%02d", j)
		period[name] = 5 * time.Second
		fmt.Fprintf(&ct, "# soloist: name=%s missed=all\n%d/5 * * * * * * {ledger} -sleep 100ms\n", name, j%5)
	}
	var clusters []*cluster
	var observed []string // metrics addresses of one runner per group
	for g := range groups {
		addr := freeAddr(t)
		observed = append(observed, addr)
		clusters = append(clusters, newCluster(t, clusterOptions{
			group: fmt.Sprintf("soak-%d", g), runners: runnersPerGroup, ttl: ttl, crontab: ct.String(), database: database,
			runnerArgs: func(i int) []string {
				if i == 0 {
					return []string{"--http", addr}
				}
				return nil
			},
		}))
	}
	for _, c := range clusters {
		c.waitHolder(nil, 60*time.Second)
	}
	// Warm up, then take the first reading of every runner.
	time.Sleep(10 * time.Second)
	first := readings(t, clusters, observed)
	time.Sleep(duration)
	last := readings(t, clusters, observed)
	for _, c := range clusters {
		c.stopAll()
	}

	var fires, overlaps, doubles, unrecorded int
	for _, c := range clusters {
		f := c.check(checkOptions{period: period})
		fires += f.Fires
		overlaps += f.Overlaps
		doubles += f.Doubles
		unrecorded += f.Unrecorded
	}
	rssGrowth, worstRSS := growth(first.rss, last.rss)
	goGrowth, worstGo := growth(first.goroutines, last.goroutines)
	t.Logf("FIGURES %s: runners=%d groups=%d jobs=%d duration=%v fires=%d overlaps=%d double_fires=%d unrecorded_fires=%d "+
		"rss_kb_first_to_last=%s worst_rss_growth=%s goroutines_first_to_last=%s worst_goroutine_growth=%s",
		t.Name(), groups*runnersPerGroup, groups, groups*jobsPerGroup, duration, fires, overlaps, doubles, unrecorded,
		rssGrowth, worstRSS, goGrowth, worstGo)
	// Flat: after the warm-up, no runner grows by more than a few MiB or a
	// few goroutines, whatever the run's length.
	for pid, kb := range last.rss {
		if start, ok := first.rss[pid]; ok && kb > start+8*1024 {
			t.Errorf("runner %d grew from %d KiB to %d KiB", pid, start, kb)
		}
	}
	for addr, n := range last.goroutines {
		if start, ok := first.goroutines[addr]; ok && n > start+10 {
			t.Errorf("runner at %s went from %d to %d goroutines", addr, start, n)
		}
	}
}

// createMigrated creates the soloist database on srv and migrates it.
func createMigrated(t *testing.T, srv *dbserver.Server) *mysql.Config {
	t.Helper()
	admin, err := sql.Open("mysql", srv.DSN(""))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Exec("CREATE DATABASE soloist CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("mysql", srv.DSN("soloist"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := soloist.Migrate(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	cfg, err := mysql.ParseDSN(srv.DSN("soloist"))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// reading is the memory of every runner process (from /proc, by pid) and
// the goroutines of the observed ones (from their /metrics).
type reading struct {
	rss        map[int]int64
	goroutines map[string]int64
}

func readings(t *testing.T, clusters []*cluster, observed []string) reading {
	t.Helper()
	r := reading{rss: map[int]int64{}, goroutines: map[string]int64{}}
	for _, c := range clusters {
		for _, p := range c.runners {
			if kb := vmRSS(p.run.Pid()); kb > 0 {
				r.rss[p.run.Pid()] = kb
			}
		}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, addr := range observed {
		wg.Go(func() {
			if n, ok := scrape(addr, "go_goroutines"); ok {
				mu.Lock()
				r.goroutines[addr] = n
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(r.goroutines) == 0 {
		t.Fatal("no runner's /metrics answered")
	}
	return r
}

func vmRSS(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return kb
		}
	}
	return 0
}

// scrape reads one gauge from a runner's /metrics.
func scrape(addr, metric string) (int64, bool) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), metric+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return int64(f), err == nil
		}
	}
	return 0, false
}

// growth summarises how a set of readings changed: the totals first to last,
// and the largest single growth.
func growth[K comparable](first, last map[K]int64) (total, worst string) {
	var a, b, w int64
	for k, v := range last {
		if f, ok := first[k]; ok {
			a, b = a+f, b+v
			w = max(w, v-f)
		}
	}
	return fmt.Sprintf("%d->%d", a, b), strconv.FormatInt(w, 10)
}
