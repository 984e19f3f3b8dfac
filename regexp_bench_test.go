package soloist_test

import (
	"context"
	"os"
	"testing"

	"github.com/soloist-dev/soloist/internal/dbtest"
)

// BenchmarkTryAcquireFollowerAnswer measures try_acquire's fast path, a
// follower polling a live lease of another owner, with the owner check from
// before the baseline (REGEXP on the binary owner, which MySQL 8.0.22+
// rejects) and with the portable check of the baseline, in one run against
// one server: each sub-benchmark has its own database and connection.
//
//	go test -run '^$' -bench TryAcquireFollowerAnswer -count 6 .
func BenchmarkTryAcquireFollowerAnswer(b *testing.B) {
	before, err := os.ReadFile("testdata/portability/try_acquire.sql")
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for _, variant := range []struct {
		name   string
		source []byte // nil: the baseline's
	}{{"BinaryREGEXP", before}, {"PortableCheck", nil}} {
		d := dbtest.NewDatabase(b)
		if variant.source != nil {
			if _, err := d.DB.Exec("DROP PROCEDURE try_acquire"); err != nil {
				b.Fatal(err)
			}
			if _, err := d.DB.Exec(string(variant.source)); err != nil {
				b.Fatal(err)
			}
		}
		tryAcquire(b, d.DB, "bench", "10.0.0.1/holder/1234", 3600000)
		conn, err := d.DB.Conn(ctx)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(variant.name, func(b *testing.B) {
			for b.Loop() {
				if l := tryAcquire(b, conn, "bench", "10.0.0.2/follower-host-name/5678", 3600000); l.Acquired {
					b.Fatal("the follower acquired a live lease")
				}
			}
		})
		conn.Close()
	}
}
