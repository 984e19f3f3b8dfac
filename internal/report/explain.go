package report

import (
	"fmt"

	"github.com/soloist-dev/soloist/internal/dberr"
)

// Explain adds what to do to the two errors a report or admin call usually
// fails with: a database without the procedures (an old or missing schema),
// and a user that may not call them. Other errors come back as they are.
func Explain(err error) error {
	switch dberr.Classify(err) {
	case dberr.NotMigrated:
		return fmt.Errorf("%v: the database has no Soloist schema, or an old one: run `soloist migrate up`", err)
	case dberr.NoPrivilege:
		return fmt.Errorf("%v: this database user may not call it: see `soloist grants --help` and docs/dba.md", err)
	}
	return err
}
