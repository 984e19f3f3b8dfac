package demo_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/soloist-dev/soloist/internal/demo"
	"github.com/soloist-dev/soloist/internal/spawn"
)

// TestDemoShowsATakeoverWithoutDoubleRuns runs `make demo` as a newcomer
// would see it, with shorter phases.
func TestDemoShowsATakeoverWithoutDoubleRuns(t *testing.T) {
	bin, err := spawn.Build(t.TempDir(), spawn.SoloistPackage)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err = demo.Run(ctx, demo.Options{Soloist: bin, Crontab: "../../examples/demo.crontab", TTL: 2 * time.Second, Ticks: 2, Out: &out})
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	for _, want := range []string{"leads with token 1", "kill -9", "leads with token 2", "took over", "0 ran twice", "throwaway server stopped"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the demo did not show %q:\n%s", want, out.String())
		}
	}
	if testing.Verbose() {
		os.Stdout.Write(out.Bytes())
	}
}
