// Package dberr classifies the errors the database returns, once for every
// package that talks to it: the runner's calls (store, leadership), the
// reads (report), the admin calls (admin) and the CLI's advice. Each class
// names the server error numbers it covers, so that no caller compares
// numbers of its own.
//
// Classification looks through every wrapper with errors.As, so a caller
// may wrap freely with %w; the driver's *mysql.MySQLError stays reachable.
package dberr

import (
	"database/sql/driver"
	"errors"
	"net"
	"strings"

	"github.com/go-sql-driver/mysql"
)

// Kind is a class of database error.
type Kind int

// The classes. An error that fits none is Other.
const (
	Other Kind = iota
	// Conflict: another transaction got in the way; try again. Errors 1213
	// (ER_LOCK_DEADLOCK, also how Galera reports a certification conflict)
	// and 1205 (ER_LOCK_WAIT_TIMEOUT).
	Conflict
	// NotMigrated: the procedures or tables are missing, so the schema is
	// absent or older than this build. Errors 1305 (ER_SP_DOES_NOT_EXIST)
	// and 1146 (ER_NO_SUCH_TABLE).
	NotMigrated
	// LoginDenied: wrong user or password. Error 1045
	// (ER_ACCESS_DENIED_ERROR).
	LoginDenied
	// NoPrivilege: the user may log in but not do this. Errors 1370
	// (ER_PROCACCESS_DENIED_ERROR: no EXECUTE), 1142
	// (ER_TABLEACCESS_DENIED_ERROR) and 1044 (ER_DBACCESS_DENIED_ERROR).
	NoPrivilege
	// UnknownDatabase: the DSN names a database that does not exist. Error
	// 1049 (ER_BAD_DB_ERROR).
	UnknownDatabase
	// Connection: the connection failed or broke, rather than the
	// statement: a network error, or the driver's bad or invalid connection.
	Connection
)

var numbers = map[uint16]Kind{
	1213: Conflict, 1205: Conflict,
	1305: NotMigrated, 1146: NotMigrated,
	1045: LoginDenied,
	1370: NoPrivilege, 1142: NoPrivilege, 1044: NoPrivilege,
	1049: UnknownDatabase,
}

// Classify returns the class of err; Other for nil and for errors that fit
// no class.
func Classify(err error) Kind {
	if err == nil {
		return Other
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return numbers[me.Number]
	}
	var ne net.Error
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) ||
		errors.As(err, &ne) || errors.Is(err, net.ErrClosed) {
		return Connection
	}
	return Other
}

// IsConflict reports whether err is a Conflict: try again.
func IsConflict(err error) bool { return Classify(err) == Conflict }

// IsConnection reports whether err is about the connection: drop it and dial
// again.
func IsConnection(err error) bool { return Classify(err) == Connection }

// IsNotMigrated reports whether err says the schema is missing or old.
func IsNotMigrated(err error) bool { return Classify(err) == NotMigrated }

// IsAccessDenied reports whether err is a login or privilege failure.
func IsAccessDenied(err error) bool {
	k := Classify(err)
	return k == LoginDenied || k == NoPrivilege
}

// Signalled reports whether err is a procedure's own error: SIGNAL SQLSTATE
// '45000' with a message that starts with prefix, such as "lease lost".
func Signalled(err error, prefix string) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.SQLState == [5]byte{'4', '5', '0', '0', '0'} && strings.HasPrefix(me.Message, prefix)
}

// Message is the server's message of a MySQL error in err (a procedure's
// SIGNAL text), or err's own text when it holds none.
func Message(err error) string {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Message
	}
	return err.Error()
}
