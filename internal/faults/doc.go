// Package faults is Soloist's fault suite: it runs real `soloist run`
// processes against a real MariaDB server, injects faults (kill -9,
// SIGSTOP, partitions through an in-process toxiproxy, database restarts,
// skewed clocks, Galera node failures, a soak of hundreds of runners) and
// checks the record: the ledger that every job execution appends to, the
// run history and the lease terms.
//
// The tests are in this package's _test files; `go test ./internal/faults`
// runs the short forms, `make faults` (SOLOIST_LONG=1) the long ones. The
// ledger subpackage is the job the tests' crontabs run. Results are in
// docs/reliability.md.
package faults
