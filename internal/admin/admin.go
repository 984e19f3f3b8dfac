// Package admin calls the procedures operators use to steer the runners:
// revoke_lease, force_release, repair_job, pause_job, resume_job, allow_host,
// disallow_host, forget_job and forget_group. It is the one package that
// spells those calls; `soloist release`, `repair`, `pause`, `resume`,
// `allow`, `disallow` and `forget` use it. A database user needs nothing but
// EXECUTE on soloist.AdminProcedures().
//
// Each function makes one call and returns the procedure's row. Errors come
// back as the driver returned them, for internal/dberr to classify; a call
// that returned no row fails with sql.ErrNoRows.
package admin

import (
	"context"
	"database/sql"
	"time"

	"github.com/soloist-dev/soloist/internal/store"
)

// The calls, one per procedure.
const (
	callRevokeLease  = "CALL revoke_lease(?)"
	callForceRelease = "CALL force_release(?)"
	callRepairJob    = "CALL repair_job(?, ?)"
	callPauseJob     = "CALL pause_job(?, ?)"
	callResumeJob    = "CALL resume_job(?, ?)"
	callAllowHost    = "CALL allow_host(?, ?)"
	callDisallowHost = "CALL disallow_host(?, ?)"
	callForgetJob    = "CALL forget_job(?, ?)"
	callForgetGroup  = "CALL forget_group(?)"
)

// Revocation is what revoke_lease did.
type Revocation struct {
	// Revoked is false when the group had no live lease to revoke.
	Revoked bool
	// Holder and Token are the holder whose lease was revoked; it steps
	// down at its next heartbeat.
	Holder string
	Token  uint64
}

// Revoke makes the holder of group's lease step down: its next heartbeat is
// refused, and nobody else can take the lease until it has let go.
func Revoke(ctx context.Context, q store.Querier, group string) (Revocation, error) {
	var r Revocation
	var holder sql.NullString
	var token sql.NullInt64
	err := store.CallOne(ctx, q, callRevokeLease, []any{group}, &r.Revoked, &holder, &token)
	r.Holder, r.Token = holder.String, uint64(token.Int64)
	return r, err
}

// ForcedRelease is what force_release did.
type ForcedRelease struct {
	// Released is false when the group had no holder.
	Released bool
	// Holder and Token are the holder whose lease was ended.
	Holder string
	Token  uint64
	// HeartbeatAge is how long before the call the holder last renewed;
	// TTL is its lease's length, and Interval its mean renewal interval
	// (zero when unknown). Together they tell whether it looked dead.
	HeartbeatAge, TTL, Interval time.Duration
}

// ForceRelease ends group's lease now, whatever its holder does: the next
// try_acquire of anyone succeeds with a new token, the old holder's fenced
// writes fail and its next heartbeat is refused.
func ForceRelease(ctx context.Context, q store.Querier, group string) (ForcedRelease, error) {
	var r ForcedRelease
	var holder sql.NullString
	var token, age, ttl, interval sql.NullInt64
	err := store.CallOne(ctx, q, callForceRelease, []any{group}, &r.Released, &holder, &token, &age, &ttl, &interval)
	ms := func(v sql.NullInt64) time.Duration { return time.Duration(v.Int64) * time.Millisecond }
	r.Holder, r.Token = holder.String, uint64(token.Int64)
	r.HeartbeatAge, r.TTL, r.Interval = ms(age), ms(ttl), ms(interval)
	return r, err
}

// Repair is what repair_job did.
type Repair struct {
	// Known is whether the group has the job; Repaired whether its
	// schedule state needed mending.
	Known, Repaired bool
	// LastFire is the job's last fire before the call, and Now the
	// database clock's; both are the zero time when absent.
	LastFire, Now time.Time
	// Removed counts the history rows ahead of the clock that were deleted.
	Removed int64
}

// RepairJob mends a job whose last fire was claimed in the future: it
// deletes the job's history rows ahead of the database clock and moves its
// last fire back to the latest one recorded before.
func RepairJob(ctx context.Context, q store.Querier, group, job string) (Repair, error) {
	var r Repair
	var last, now sql.NullInt64
	err := store.CallOne(ctx, q, callRepairJob, []any{group, job}, &r.Known, &r.Repaired, &last, &now, &r.Removed)
	at := func(v sql.NullInt64) time.Time {
		if !v.Valid {
			return time.Time{}
		}
		return time.UnixMilli(v.Int64).UTC()
	}
	r.LastFire, r.Now = at(last), at(now)
	return r, err
}

// JobChange is what pause_job or resume_job did.
type JobChange struct {
	// Paused is whether the job is paused now.
	Paused bool
	// Known is whether a runner of the group has registered the job. A
	// job may be paused before it is known; resuming an unknown job is
	// a mistake the caller should report.
	Known bool
}

// Pause stops every runner of group from firing job until Resume.
func Pause(ctx context.Context, q store.Querier, group, job string) (JobChange, error) {
	return jobCall(ctx, q, callPauseJob, group, job)
}

// Resume lets a paused job fire again, from its next fire after now.
func Resume(ctx context.Context, q store.Querier, group, job string) (JobChange, error) {
	return jobCall(ctx, q, callResumeJob, group, job)
}

func jobCall(ctx context.Context, q store.Querier, call, group, job string) (JobChange, error) {
	var c JobChange
	err := store.CallOne(ctx, q, call, []any{group, job}, &c.Paused, &c.Known)
	return c, err
}

// Allow adds host (an IP or the leading fields of an owner) to group's
// allow-list and returns how many hosts the list has.
func Allow(ctx context.Context, q store.Querier, group, host string) (hosts int64, err error) {
	err = store.CallOne(ctx, q, callAllowHost, []any{group, host}, &hosts)
	return hosts, err
}

// Disallow removes host from group's allow-list. It returns how many hosts
// are left (none: everyone may lead again) and whether the holder was made
// to step down because it is no longer allowed.
func Disallow(ctx context.Context, q store.Querier, group, host string) (hosts int64, revoked bool, err error) {
	err = store.CallOne(ctx, q, callDisallowHost, []any{group, host}, &hosts, &revoked)
	return hosts, revoked, err
}

// ForgetJob removes job from group, with its schedule and pause state, so
// that reports stop listing it; its run history stays until it is pruned.
// It returns false when the group had no such job. The database refuses
// (SQLSTATE 45000) while the job has a run in progress. A runner that still
// has the job brings it back at its next fire.
func ForgetJob(ctx context.Context, q store.Querier, group, job string) (forgotten bool, err error) {
	err = store.CallOne(ctx, q, callForgetJob, []any{group, job}, &forgotten)
	return forgotten, err
}

// GroupForgotten is what forget_group did.
type GroupForgotten struct {
	// Forgotten is false when nothing was left of the group.
	Forgotten bool
	// Jobs and Hosts count the job and allow-list rows deleted.
	Jobs, Hosts int64
}

// ForgetGroup removes group's jobs and allow-list and hides it from the
// reports; its run history stays until it is pruned. The lease's row is
// kept, so a runner that starts on the group again takes the lease with a
// token greater than any before, and the group is listed again. The
// database refuses (SQLSTATE 45000) while the group's lease is live.
func ForgetGroup(ctx context.Context, q store.Querier, group string) (GroupForgotten, error) {
	var g GroupForgotten
	err := store.CallOne(ctx, q, callForgetGroup, []any{group}, &g.Forgotten, &g.Jobs, &g.Hosts)
	return g, err
}
