package faults_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/soloist-dev/soloist/internal/dbtest"
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
		bins.soloist, bins.ledger = filepath.Join(dir, "soloist"), filepath.Join(dir, "ledger")
		for pkg, out := range map[string]string{
			"github.com/soloist-dev/soloist/cmd/soloist":            bins.soloist,
			"github.com/soloist-dev/soloist/internal/faults/ledger": bins.ledger,
		} {
			if b, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
				bins.err = &buildError{pkg, err, string(b)}
				return
			}
		}
	})
	if bins.err != nil {
		t.Fatal(bins.err)
	}
	return bins.soloist, bins.ledger
}

type buildError struct {
	pkg string
	err error
	out string
}

func (e *buildError) Error() string { return "go build " + e.pkg + ": " + e.err.Error() + "\n" + e.out }
