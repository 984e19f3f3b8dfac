package faults_test

import (
	"os"
	"sync"
	"testing"

	"github.com/soloist-dev/soloist/internal/dbtest"
	"github.com/soloist-dev/soloist/internal/spawn"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// longForm reports whether to run the long forms (make faults).
func longForm() bool { return os.Getenv("SOLOIST_LONG") != "" }

var bins struct {
	once            sync.Once
	soloist, ledger string
	err             error
}

// binaries builds soloist and the ledger job once, without the race
// detector: the fault tests measure time.
func binaries(t testing.TB) (soloist, ledger string) {
	t.Helper()
	bins.once.Do(func() {
		dir, err := os.MkdirTemp("", "soloist-faults-")
		if err != nil {
			bins.err = err
			return
		}
		dbtest.AtExit(func() { os.RemoveAll(dir) })
		if bins.soloist, bins.err = spawn.Build(dir, spawn.SoloistPackage); bins.err != nil {
			return
		}
		bins.ledger, bins.err = spawn.Build(dir, "github.com/soloist-dev/soloist/internal/faults/ledger")
	})
	if bins.err != nil {
		t.Fatal(bins.err)
	}
	return bins.soloist, bins.ledger
}
