package store

import (
	"database/sql/driver"
	"errors"
	"net"
	"strings"

	"github.com/go-sql-driver/mysql"
)

// ErrLeaseLost is returned (wrapped, together with the driver's error) when a
// procedure reports that the caller's lease is gone: assert_lease, begin_term,
// sync_job and prune_runs signal SQLSTATE 45000 "lease lost: ...".
var ErrLeaseLost = errors.New("lease lost")

// MySQL error numbers the runner treats specially.
const (
	errNoSuchProcedure = 1305 // ER_SP_DOES_NOT_EXIST: schema not migrated
	errNoSuchTable     = 1146 // ER_NO_SUCH_TABLE
	errLockWaitTimeout = 1205 // ER_LOCK_WAIT_TIMEOUT
	errDeadlock        = 1213 // ER_LOCK_DEADLOCK, also Galera's certification failure
	errAccessDenied    = 1045 // ER_ACCESS_DENIED_ERROR: wrong user or password
	errProcDenied      = 1370 // ER_PROCACCESS_DENIED_ERROR: no EXECUTE
	errUnknownDatabase = 1049 // ER_BAD_DB_ERROR
)

// classify wraps a procedure's error: a "lease lost" signal also matches
// ErrLeaseLost. The driver's *mysql.MySQLError stays reachable with errors.As.
func classify(err error) error {
	var me *mysql.MySQLError
	if errors.As(err, &me) && me.SQLState == [5]byte{'4', '5', '0', '0', '0'} && strings.HasPrefix(me.Message, "lease lost") {
		return errors.Join(ErrLeaseLost, err)
	}
	return err
}

// IsConflict reports whether err means "another transaction got in the way:
// try again": a deadlock, a lock wait timeout, or a Galera certification
// conflict (which Galera reports as a deadlock).
func IsConflict(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && (me.Number == errDeadlock || me.Number == errLockWaitTimeout)
}

// IsConnection reports whether err is about the connection rather than the
// statement: the runner then drops the connection and dials again.
func IsConnection(err error) bool {
	var ne net.Error
	return errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) ||
		errors.As(err, &ne) || errors.Is(err, net.ErrClosed)
}

// IsNotMigrated reports whether err says the procedures or tables are missing.
func IsNotMigrated(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && (me.Number == errNoSuchProcedure || me.Number == errNoSuchTable)
}

// IsAccessDenied reports whether err is a login or privilege failure.
func IsAccessDenied(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && (me.Number == errAccessDenied || me.Number == errProcDenied || me.Number == 1044 || me.Number == 1142)
}
