package store

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// The calls of a runner in balanced mode: join_group once, balance_renew
// every interval, acquire_job and release_lease as jobs move, leave_group
// at the end. A job's own lease is named JobLease(group, job).

// ErrModeConflict is returned (wrapped, with the driver's error) when the
// group runs in the other mode: join_group, balance_renew and acquire_job
// refuse with a message that says who runs it.
var ErrModeConflict = errors.New("the group runs in the other mode")

// JobLease is the name of a job's own lease in balanced mode.
func JobLease(group, job string) string { return group + "/" + job }

// JoinGroup calls join_group: it fails with ErrModeConflict when the group
// runs in the other mode, and in balanced mode records the runner as a live
// member for ttl. It returns the group's live balanced runners.
func (s *Store) JoinGroup(ctx context.Context, group, owner string, balanced bool, ttl time.Duration) (members int64, err error) {
	mode := "leader"
	if balanced {
		mode = "balanced"
	}
	var now int64
	err = s.one(ctx, queryJoinGroup, []any{group, owner, mode, ms(ttl)}, &members, &now)
	return members, modeError(err)
}

// Member is a live runner of a balanced group, as balance_renew reports it.
type Member struct {
	Owner     string
	ExpiresIn time.Duration
}

// JobOwner is a job's own lease as balance_renew reports it.
type JobOwner struct {
	Job       string
	Holder    string // "" when nobody holds it live
	Token     uint64
	ExpiresIn time.Duration
}

// Group is balance_renew's answer: the group's live runners and the leases
// of its jobs, after the caller's were renewed.
type Group struct {
	Members []Member
	Jobs    []JobOwner
}

// BalanceRenew calls balance_renew: it renews the runner's membership and
// every job lease it holds for ttl, in one round trip, and returns the group.
func (s *Store) BalanceRenew(ctx context.Context, group, owner string, ttl time.Duration) (Group, error) {
	var g Group
	rows, err := s.query(ctx, queryBalanceRenew, []any{group, owner, ms(ttl)})
	if err != nil {
		return g, modeError(callError(queryBalanceRenew, err))
	}
	for rows.Next() {
		var kind, name string
		var holder *string
		var token uint64
		var expires int64
		if err := rows.Scan(&kind, &name, &holder, &token, &expires); err != nil {
			rows.Close()
			return g, callError(queryBalanceRenew, err)
		}
		left := time.Duration(expires) * time.Millisecond
		switch kind {
		case "member":
			g.Members = append(g.Members, Member{Owner: name, ExpiresIn: left})
		case "job":
			j := JobOwner{Job: name, Token: token, ExpiresIn: left}
			if holder != nil {
				j.Holder = *holder
			}
			g.Jobs = append(g.Jobs, j)
		}
	}
	return g, modeError(callError(queryBalanceRenew, CloseRows(rows)))
}

// AcquireJob calls acquire_job: one attempt to take a job's own lease.
func (s *Store) AcquireJob(ctx context.Context, group, owner, job string, ttl time.Duration) (Lease, error) {
	l, err := s.lease(ctx, queryAcquireJob, group, owner, job, ms(ttl))
	return l, modeError(err)
}

// LeaveGroup calls leave_group: the runner is no longer a member.
func (s *Store) LeaveGroup(ctx context.Context, group, owner string) error {
	var left bool
	return s.one(ctx, queryLeaveGroup, []any{group, owner}, &left)
}

// Declared is a job as declare_jobs records it.
type Declared struct {
	Name     string `json:"name"`
	Schedule string `json:"schedule"`
	Weight   int    `json:"weight"`
	Hosts    string `json:"hosts"`
}

// DeclareJobs calls declare_jobs with every job of the runner's group.
func (s *Store) DeclareJobs(ctx context.Context, group, owner string, jobs []Declared) error {
	if jobs == nil {
		jobs = []Declared{}
	}
	b, err := json.Marshal(jobs)
	if err != nil {
		return err
	}
	var n int64
	return s.one(ctx, queryDeclareJobs, []any{group, owner, string(b)}, &n)
}

// modeError marks the procedures' refusals of a runner of the other mode.
func modeError(err error) error {
	var me *mysql.MySQLError
	if errors.As(err, &me) && me.SQLState == [5]byte{'4', '5', '0', '0', '0'} &&
		(strings.Contains(me.Message, " runs in leader mode") || strings.Contains(me.Message, " runs in balanced mode")) {
		return errors.Join(ErrModeConflict, err)
	}
	return err
}

// HostsList joins a job's hosts as declare_jobs takes them.
func HostsList(hosts []string) string { return strings.Join(hosts, ",") }
