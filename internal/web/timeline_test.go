package web

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/soloist-dev/soloist/internal/report"
)

func ptr[T any](v T) *T { return &v }

func TestTimelineLayout(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	from := now.Add(-time.Hour)
	at := func(min float64) time.Time { return from.Add(time.Duration(min * float64(time.Minute))) }
	// xAt is where a time of the window lies.
	xAt := func(min float64) float64 { return tlX0 + (tlX1-tlX0)*min/60 }
	near := func(a, b float64) bool { return math.Abs(a-b) < 0.01 }

	held := report.Group{Name: "app", Status: "held", Holder: ptr("10.0.0.2/b"), Token: 3, AcquiredAt: ptr(at(40))}
	terms := []report.Term{
		{Group: "app", Token: 1, Holder: "10.0.0.1/a", AcquiredAt: at(-30), EndedAt: ptr(at(20)), EndReason: ptr("released")},
		{Group: "app", Token: 2, Holder: "10.0.0.3/c", AcquiredAt: at(20), EndedAt: ptr(at(40)), EndReason: ptr("expired")},
		{Group: "app", Token: 3, Holder: "10.0.0.2/b", AcquiredAt: at(40)},
		{Group: "other", Token: 9, Holder: "10.0.0.9/z", AcquiredAt: at(10)},
	}
	runs := []report.Run{
		{Group: "app", Job: "tick", Owner: "10.0.0.1/a", Token: 1, Outcome: "succeeded", Fire: at(10), StartedAt: ptr(at(10)), FinishedAt: ptr(at(10))},
		{Group: "app", Job: "tick", Owner: "10.0.0.1/a", Token: 1, Outcome: "failed", Fire: at(11), StartedAt: ptr(at(11)), FinishedAt: ptr(at(11)), Message: ptr("exit status 7")},
		{Group: "app", Job: "tick", Owner: "10.0.0.3/c", Token: 2, Outcome: "missed", Fire: at(30)},
		{Group: "app", Job: "long", Owner: "10.0.0.2/b", Token: 3, Outcome: "running", Fire: at(50), StartedAt: ptr(at(50))},
		{Group: "app", Job: "tick", Owner: "10.0.0.1/a", Token: 1, Outcome: "succeeded", Fire: at(-5), StartedAt: ptr(at(-5))}, // before the window
		{Group: "other", Job: "tick", Owner: "10.0.0.9/z", Token: 9, Outcome: "failed", Fire: at(15), StartedAt: ptr(at(15))},  // another group
	}
	tl := buildTimeline(held, terms, runs, from, now, "1h", "10.0.0.2/b")

	t.Run("OneLanePerRunnerOfTheGroupInTheWindowSortedByOwner", func(t *testing.T) {
		var owners []string
		for _, l := range tl.Lanes {
			owners = append(owners, l.Owner)
		}
		if want := []string{"10.0.0.1/a", "10.0.0.2/b", "10.0.0.3/c"}; !reflect.DeepEqual(owners, want) {
			t.Fatalf("lanes %v, want %v", owners, want)
		}
		if tl.Lanes[0].Self || !tl.Lanes[1].Self {
			t.Fatal("the lane of the serving runner is not the one marked")
		}
		if tl.Lanes[0].Colour == tl.Lanes[1].Colour || tl.Lanes[1].Colour == tl.Lanes[2].Colour {
			t.Fatal("two runners share a colour")
		}
	})

	t.Run("TermsAreClippedToTheWindowAndTheLastLastsUntilNow", func(t *testing.T) {
		if len(tl.Bars) != 3 {
			t.Fatalf("%d bars, want 3", len(tl.Bars))
		}
		a, c, b := tl.Bars[0], tl.Bars[1], tl.Bars[2]
		if !near(a.X, tlX0) || !near(a.X+a.W, xAt(20)) {
			t.Errorf("term 1 drawn from %v to %v, want from the window's start to minute 20", a.X, a.X+a.W)
		}
		if !near(c.X, xAt(20)) || !near(c.X+c.W, xAt(40)) || c.Colour != tl.Lanes[2].Colour {
			t.Errorf("term 2: %+v", c)
		}
		if !near(b.X+b.W, tlX1) || !strings.Contains(b.Title, "to now") || b.Label != "#3" {
			t.Errorf("the current term: %+v", b)
		}
		if !strings.Contains(c.Title, "(expired)") {
			t.Errorf("term 2's title %q does not say how it ended", c.Title)
		}
	})

	t.Run("LeaderChangesInsideTheWindowAreMarked", func(t *testing.T) {
		if len(tl.Changes) != 2 || !near(tl.Changes[0], xAt(20)) || !near(tl.Changes[1], xAt(40)) {
			t.Fatalf("changes at %v, want minutes 20 and 40", tl.Changes)
		}
	})

	t.Run("RunsSitOnTheirRunnersLaneWithFailuresDrawnLast", func(t *testing.T) {
		if len(tl.Runs) != 4 {
			t.Fatalf("%d runs drawn, want the 4 of this group in the window", len(tl.Runs))
		}
		if last := tl.Runs[len(tl.Runs)-1]; last.Class != "failed" || !near(last.X, xAt(11)) ||
			last.Y != tl.Lanes[0].Y+tlRunY || !strings.Contains(last.Title, "exit status 7") {
			t.Errorf("the failed run: %+v", last)
		}
		for _, r := range tl.Runs {
			if r.W < tlMinRun {
				t.Errorf("run %q is %v wide, narrower than %v", r.Title, r.W, tlMinRun)
			}
			if r.Class == "running" && !near(r.X+r.W, tlX1) {
				t.Errorf("the running run ends at %v, want now", r.X+r.W)
			}
		}
		want := summary{Changes: 2, Runs: 4, Failed: 1, Missed: 1}
		if tl.Summary != want {
			t.Errorf("summary %+v, want %+v", tl.Summary, want)
		}
	})

	t.Run("TheAxisMarksEveryTenMinutes", func(t *testing.T) {
		var labels []string
		for _, tk := range tl.Ticks {
			labels = append(labels, tk.Label)
		}
		if want := []string{"11:10", "11:20", "11:30", "11:40", "11:50"}; !reflect.DeepEqual(labels, want) {
			t.Fatalf("ticks %v, want %v", labels, want)
		}
	})
}

func TestTimelineOfAnOldTermStillHeld(t *testing.T) {
	// The term began before the terms read (a day ago): lease_report's row
	// stands for it.
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	g := report.Group{Name: "app", Status: "expired", Holder: ptr("10.0.0.1/a"), Token: 7,
		AcquiredAt: ptr(now.Add(-48 * time.Hour)), ExpiresAt: ptr(now.Add(-10 * time.Minute))}
	tl := buildTimeline(g, nil, nil, now.Add(-15*time.Minute), now, "15m", "")
	if len(tl.Bars) != 1 || len(tl.Changes) != 0 {
		t.Fatalf("bars %+v, changes %v: want the one old term, no change", tl.Bars, tl.Changes)
	}
	b := tl.Bars[0]
	if b.X != tlX0 || math.Abs(b.X+b.W-(tlX0+(tlX1-tlX0)/3)) > 0.01 || !strings.Contains(b.Title, "(expired)") {
		t.Fatalf("the expired term: %+v; want it drawn until its expiry, 5 minutes into the window", b)
	}
	var labels []string
	for _, tk := range tl.Ticks {
		labels = append(labels, tk.Label)
	}
	if want := []string{"11:50", "11:55"}; !reflect.DeepEqual(labels, want) {
		t.Fatalf("ticks %v, want %v", labels, want)
	}

	empty := buildTimeline(report.Group{Name: "idle", Status: "free"}, nil, nil, now.Add(-time.Hour), now, "1h", "")
	if len(empty.Lanes) != 0 || len(empty.Bars) != 0 {
		t.Fatalf("a group nobody led has %+v", empty)
	}
}

func TestDurText(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{850 * time.Millisecond, "850ms"},
		{4230 * time.Millisecond, "4.2s"},
		{190 * time.Second, "3m10s"},
		{3 * time.Minute, "3m"},
		{125 * time.Minute, "2h5m"},
		{76 * time.Hour, "3d4h"},
		{-2 * time.Second, "2s"},
	} {
		if got := durText(tc.d); got != tc.want {
			t.Errorf("durText(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}
