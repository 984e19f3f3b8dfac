package runner_test

import (
	"testing"

	"github.com/soloist-dev/soloist/internal/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }
