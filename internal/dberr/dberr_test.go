package dberr_test

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/soloist-dev/soloist/internal/dberr"
)

func TestClassifyLooksThroughWrappers(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want dberr.Kind
	}{
		{"NilIsOther", nil, dberr.Other},
		{"PlainErrorIsOther", errors.New("boom"), dberr.Other},
		{"DeadlockIsAConflict", &mysql.MySQLError{Number: 1213}, dberr.Conflict},
		{"LockWaitTimeoutIsAConflict", &mysql.MySQLError{Number: 1205}, dberr.Conflict},
		{"MissingProcedureIsNotMigrated", &mysql.MySQLError{Number: 1305}, dberr.NotMigrated},
		{"MissingTableIsNotMigrated", &mysql.MySQLError{Number: 1146}, dberr.NotMigrated},
		{"WrongPasswordIsLoginDenied", &mysql.MySQLError{Number: 1045}, dberr.LoginDenied},
		{"NoExecuteIsNoPrivilege", &mysql.MySQLError{Number: 1370}, dberr.NoPrivilege},
		{"NoTableGrantIsNoPrivilege", &mysql.MySQLError{Number: 1142}, dberr.NoPrivilege},
		{"NoDatabaseGrantIsNoPrivilege", &mysql.MySQLError{Number: 1044}, dberr.NoPrivilege},
		{"UnknownDatabase", &mysql.MySQLError{Number: 1049}, dberr.UnknownDatabase},
		{"OtherServerErrorIsOther", &mysql.MySQLError{Number: 1064}, dberr.Other},
		{"BadConnIsConnection", driver.ErrBadConn, dberr.Connection},
		{"InvalidConnIsConnection", mysql.ErrInvalidConn, dberr.Connection},
		{"NetErrorIsConnection", &net.OpError{Op: "dial", Err: errors.New("refused")}, dberr.Connection},
		{"WrappedTwiceStillClassified", fmt.Errorf("a: %w", fmt.Errorf("b: %w", &mysql.MySQLError{Number: 1213})), dberr.Conflict},
		{"JoinedStillClassified", errors.Join(errors.New("x"), &mysql.MySQLError{Number: 1305}), dberr.NotMigrated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := dberr.Classify(tc.err); got != tc.want {
				t.Fatalf("Classify(%v) = %d, want %d", tc.err, got, tc.want)
			}
		})
	}
}

func TestAccessDeniedCoversLoginAndPrivilege(t *testing.T) {
	for n, want := range map[uint16]bool{1045: true, 1370: true, 1142: true, 1044: true, 1305: false, 1213: false} {
		if got := dberr.IsAccessDenied(&mysql.MySQLError{Number: n}); got != want {
			t.Errorf("IsAccessDenied(error %d) = %v, want %v", n, got, want)
		}
	}
}

func TestSignalledNeedsTheProceduresStateAndPrefix(t *testing.T) {
	lost := &mysql.MySQLError{Number: 1644, SQLState: [5]byte{'4', '5', '0', '0', '0'}, Message: "lease lost: token 3 is not current"}
	if !dberr.Signalled(fmt.Errorf("assert_lease: %w", lost), "lease lost") {
		t.Error("a wrapped 45000 'lease lost' signal was not recognised")
	}
	if dberr.Signalled(lost, "invalid") {
		t.Error("a signal matched another prefix")
	}
	other := &mysql.MySQLError{Number: 1644, SQLState: [5]byte{'H', 'Y', '0', '0', '0'}, Message: "lease lost"}
	if dberr.Signalled(other, "lease lost") {
		t.Error("a message without SQLSTATE 45000 counted as the procedure's signal")
	}
}
