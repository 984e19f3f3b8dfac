package cli

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/soloist-dev/soloist/internal/report"
)

// target is what an admin command acts on. The commands check it against
// what the database holds before they change anything, so that a mistyped
// or missing name fails, lists what exists, and creates no row.
type target struct {
	group, job, host string // empty: not named by the command
}

// existing reads the group that t names and checks that its job, and its
// host when the host must already be on the allow-list, exist. It returns
// the group and the runners it has seen (runnersSeen).
func (t target) existing(ctx context.Context, dsn string, hostListed bool) (*report.Group, []string, error) {
	db, _, err := openDB(ctx, dsn)
	if err != nil {
		return nil, nil, err
	}
	defer db.Close()
	st, now, err := report.ReadStatus(ctx, db, "")
	if err != nil {
		return nil, nil, notMigrated(err)
	}
	g, err := t.check(st, hostListed)
	if err != nil {
		return nil, nil, err
	}
	terms, err := report.Terms(ctx, db, t.group, now.Add(-24*time.Hour))
	if err != nil {
		return nil, nil, notMigrated(err)
	}
	return g, runnersSeen(g, terms), nil
}

// check finds t's group in st and checks its job and host.
func (t target) check(st *report.Status, hostListed bool) (*report.Group, error) {
	var g *report.Group
	names := make([]string, 0, len(st.Groups))
	for i := range st.Groups {
		names = append(names, st.Groups[i].Name)
		if st.Groups[i].Name == t.group {
			g = &st.Groups[i]
		}
	}
	if g == nil {
		if len(names) == 0 {
			return nil, fmt.Errorf("group %q does not exist: no runner has taken a lease in this database yet", t.group)
		}
		return nil, fmt.Errorf("group %q does not exist; the groups are: %s (choose one with --group)", t.group, strings.Join(names, ", "))
	}
	if t.job != "" {
		jobs := make([]string, 0, len(g.Jobs))
		found := false
		for _, j := range g.Jobs {
			jobs = append(jobs, j.Name)
			found = found || j.Name == t.job
		}
		switch {
		case found:
		case len(jobs) == 0:
			return nil, fmt.Errorf("group %q has no job %q: no runner of it has registered a job yet", t.group, t.job)
		default:
			return nil, fmt.Errorf("group %q has no job %q; its jobs are: %s", t.group, t.job, strings.Join(jobs, ", "))
		}
	}
	if hostListed && t.host != "" && !contains(g.AllowedHosts, strings.TrimRight(t.host, "/")) {
		if len(g.AllowedHosts) == 0 {
			return nil, fmt.Errorf("group %q has no allow-list: every runner may lead", t.group)
		}
		return nil, fmt.Errorf("group %q does not list %q; its allow-list is: %s", t.group, t.host, strings.Join(g.AllowedHosts, ", "))
	}
	return g, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// runnersSeen are the owners the database knows for a group: its holder,
// each job's last runner, and whoever led it in the last 24 hours. A runner
// that never led is not among them: followers leave no row.
func runnersSeen(g *report.Group, terms []report.Term) []string {
	seen := map[string]bool{}
	for _, t := range terms {
		seen[t.Holder] = true
	}
	if g.Holder != nil {
		seen[*g.Holder] = true
	}
	for _, j := range g.Jobs {
		if j.LastOwner != nil {
			seen[*j.LastOwner] = true
		}
	}
	owners := sortedKeys(seen)
	sort.Strings(owners)
	return owners
}

// HostMatches reports whether an allow-list entry names owner: its IP, or
// its leading '/'-separated fields.
func HostMatches(host, owner string) bool {
	h := strings.TrimRight(host, "/")
	return h != "" && (owner == h || strings.HasPrefix(owner, h+"/"))
}
