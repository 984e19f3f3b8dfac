package store

import (
	"errors"

	"github.com/soloist-dev/soloist/internal/dberr"
)

// ErrLeaseLost is returned (wrapped, together with the driver's error) when a
// procedure reports that the caller's lease is gone: assert_lease, begin_term,
// sync_job and prune_runs signal SQLSTATE 45000 "lease lost: ...".
var ErrLeaseLost = errors.New("lease lost")

// classify wraps a procedure's error: a "lease lost" signal also matches
// ErrLeaseLost. The driver's *mysql.MySQLError stays reachable with errors.As,
// and every other class is dberr's.
func classify(err error) error {
	if dberr.Signalled(err, "lease lost") {
		return errors.Join(ErrLeaseLost, err)
	}
	return err
}
