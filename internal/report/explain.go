package report

import (
	"errors"
	"fmt"

	"github.com/go-sql-driver/mysql"
)

// Explain adds what to do to the two errors a report call usually fails
// with: a database without the procedures (an old or missing schema), and a
// user that may not call them. Other errors come back as they are.
func Explain(err error) error {
	var me *mysql.MySQLError
	if errors.As(err, &me) && (me.Number == 1305 || me.Number == 1146) {
		return fmt.Errorf("%v: the database has no Soloist schema, or an old one: run `soloist migrate up`", err)
	}
	if errors.As(err, &me) && (me.Number == 1370 || me.Number == 1142) {
		return fmt.Errorf("%v: this database user may not call it: see `soloist grants --help` and docs/dba.md", err)
	}
	return err
}
