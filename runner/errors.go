package runner

import (
	"errors"

	"github.com/soloist-dev/soloist/internal/leadership"
	"github.com/soloist-dev/soloist/internal/store"
)

var (
	// ErrLeaseLost matches the cause of a job's cancelled context when the
	// runner lost the lease (its trust window passed, or the database refused
	// a renewal), and the error of [Fire.AssertLease] when the fire's token is
	// no longer the current lease.
	ErrLeaseLost = errLeaseLost() // "lease lost"

	// ErrTimedOut is the cause of a job's cancelled context when its Timeout
	// passed.
	ErrTimedOut = errors.New("job timed out")

	// ErrShutdown is the cause of a job's cancelled context when the runner
	// stopped and the job did not finish within the grace period.
	ErrShutdown = errors.New("runner shutting down")

	// ErrReplaced is the cause of a job's cancelled context when a newer fire
	// of the same job replaced it (ConcurrencyReplace).
	ErrReplaced = errors.New("replaced by a newer fire")

	// ErrSchemaVersion is returned by [Runner.Run] when the database does not
	// have the schema this build needs. The message says what to run.
	ErrSchemaVersion = errors.New("database schema version mismatch")

	// ErrModeConflict is returned by [Runner.Run] when the group's live
	// runners use the other mode (leader or balanced, see [WithBalance]):
	// every runner of a group must use the same. The error says who.
	ErrModeConflict = errors.New("runner: the group runs in the other mode")

	// ErrClosed is returned by [Runner.Run] after [Runner.Close].
	ErrClosed = errors.New("runner: closed")
)

// Why a term ended: the cause that [Hooks.StoppedLeading] gets, and the cause
// of the jobs' cancelled contexts when the lease was lost. The first two
// match [ErrLeaseLost]; the third does not.
var (
	// ErrTrustWindowPassed is the cause when no renewal succeeded within
	// the trust window (TTL minus the safety margin): the holder stepped
	// down on its own deadline, whether or not the database could still be
	// reached.
	ErrTrustWindowPassed = errTrustWindowPassed()

	// ErrLeaseNotRenewed is the cause when the database refused the lease,
	// because another runner took over or an operator revoked it: a renewal
	// was refused, or a claim or registration under the term's token was.
	ErrLeaseNotRenewed = errLeaseNotRenewed()

	// ErrSteppedDown is the cause when the runner gave the lease up,
	// normally because Run's context was cancelled. The lease was released
	// after the jobs returned.
	ErrSteppedDown = errSteppedDown() // "stepped down"
)

// The internal packages that detect these conditions own the values; the
// functions keep their names out of this package's documentation, as io/fs
// does for internal/oserror.
func errLeaseLost() error         { return store.ErrLeaseLost }
func errTrustWindowPassed() error { return leadership.ErrTrustWindowPassed }
func errLeaseNotRenewed() error   { return leadership.ErrLeaseNotRenewed }
func errSteppedDown() error       { return leadership.ErrSteppedDown }

// LeaseLost reports whether err (for example context.Cause of a job's
// context) says that the runner lost its lease.
func LeaseLost(err error) bool { return errors.Is(err, ErrLeaseLost) }
