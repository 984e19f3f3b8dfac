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

// The window of the layout tests: the hour before now.
var (
	now  = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	from = now.Add(-time.Hour)
)

// at is a minute of the window.
func at(min float64) time.Time { return from.Add(time.Duration(min * float64(time.Minute))) }

// xAt is where a minute of the window lies.
func xAt(min float64) float64 { return tlX0 + (tlX1-tlX0)*min/60 }

func near(a, b float64) bool { return math.Abs(a-b) < 0.01 }

func TestTimelineLayout(t *testing.T) {

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

func TestJobTimelineLayout(t *testing.T) {
	g := report.Group{Name: "bal", Mode: report.ModeBalanced, Status: "balanced",
		Members: []report.Member{
			{Owner: "10.0.0.1/a", Live: true},
			{Owner: "10.0.0.2/b", Live: true},
			{Owner: "10.0.0.3/c", ExpiresAt: at(30)}, // died at minute 27 or so
		},
		Jobs: []report.Job{
			{Name: "move", Owner: ptr("10.0.0.2/b"), OwnerTok: ptr(uint64(2))},
			{Name: "old", Owner: ptr("10.0.0.1/a"), OwnerTok: ptr(uint64(5))}, // its term began over a day ago
			{Name: "orphan"},
			{Name: "pinned", Hosts: []string{"10.0.0.9"}, Unownable: true},
		}}
	terms := []report.Term{
		{Group: "bal", Job: ptr("move"), Token: 1, Holder: "10.0.0.1/a", AcquiredAt: at(-10), EndedAt: ptr(at(20)), EndReason: ptr("released")},
		{Group: "bal", Job: ptr("move"), Token: 2, Holder: "10.0.0.2/b", AcquiredAt: at(20)},
		{Group: "bal", Job: ptr("orphan"), Token: 1, Holder: "10.0.0.3/c", AcquiredAt: at(10)},
		{Group: "bal", Token: 4, Holder: "10.0.0.9/leader", AcquiredAt: at(-20), EndedAt: ptr(at(-15))}, // the group's own lease, before
		{Group: "other", Job: ptr("move"), Token: 7, Holder: "10.0.0.7/z", AcquiredAt: at(5)},
	}
	runs := []report.Run{
		{Group: "bal", Job: "move", Owner: "10.0.0.2/b", Token: 2, Outcome: "failed", Fire: at(30), StartedAt: ptr(at(30)), FinishedAt: ptr(at(30))},
		{Group: "bal", Job: "old", Owner: "10.0.0.1/a", Token: 5, Outcome: "succeeded", Fire: at(40), StartedAt: ptr(at(40)), FinishedAt: ptr(at(40))},
	}
	tl := buildTimeline(g, terms, runs, from, now, "1h", "10.0.0.2/b")

	t.Run("OneLanePerJobOfTheGroupSortedByName", func(t *testing.T) {
		var jobs []string
		for _, l := range tl.Lanes {
			jobs = append(jobs, l.Job)
		}
		if want := []string{"move", "old", "orphan", "pinned"}; !tl.Balanced || !reflect.DeepEqual(jobs, want) {
			t.Fatalf("balanced %v, lanes %v; want %v", tl.Balanced, jobs, want)
		}
		if !tl.Lanes[3].Unownable || tl.Lanes[0].Unownable {
			t.Error("only pinned's lane is marked unownable")
		}
	})

	t.Run("TheOwnersLegendGivesEachRunnerOneColour", func(t *testing.T) {
		if len(tl.Owners) != 3 || tl.Owners[0].Owner != "10.0.0.1/a" || !tl.Owners[1].Self || tl.Owners[0].Colour == tl.Owners[1].Colour {
			t.Fatalf("owners %+v; want a, b (this runner) and c, in colours of their own", tl.Owners)
		}
	})

	t.Run("BarsAreColouredByOwnerAndAMoveIsMarkedInItsLane", func(t *testing.T) {
		if len(tl.Bars) != 4 {
			t.Fatalf("%d bars, want move's two, old's and orphan's", len(tl.Bars))
		}
		first, second, old, orphan := tl.Bars[0], tl.Bars[1], tl.Bars[2], tl.Bars[3]
		if first.Colour != tl.Owners[0].Colour || second.Colour != tl.Owners[1].Colour {
			t.Errorf("move's terms in %s and %s, want a's then b's colour", first.Colour, second.Colour)
		}
		if !near(first.X, tlX0) || !near(first.X+first.W, xAt(20)) || !near(second.X+second.W, tlX1) || !strings.Contains(second.Title, "to now") {
			t.Errorf("move's terms: %+v, %+v", first, second)
		}
		if !near(old.X, tlX0) || !near(old.X+old.W, tlX1) || !strings.Contains(old.Title, "more than a day ago") || old.Y != tl.Lanes[1].Y+tlBarY {
			t.Errorf("old's term, from before the terms read: %+v", old)
		}
		if !near(orphan.X+orphan.W, xAt(30)) || !strings.Contains(orphan.Title, "(expired)") {
			t.Errorf("orphan's term of dead c: %+v; want it to end when c's membership expired", orphan)
		}
		if len(tl.Changes) != 0 || len(tl.Moves) != 2 || tl.Summary.Changes != 2 {
			t.Fatalf("changes %v, moves %+v, summary %+v: want the two terms begun in the window as moves", tl.Changes, tl.Moves, tl.Summary)
		}
		if m := tl.Moves[0]; !near(m.X, xAt(20)) || m.Y1 < tl.Lanes[0].Y || m.Y2 > tl.Lanes[0].Y+tlLaneH {
			t.Errorf("move's move %+v: want it at minute 20 inside move's lane", m)
		}
	})

	t.Run("RunsSitOnTheirJobsLane", func(t *testing.T) {
		if len(tl.Runs) != 2 || tl.Runs[1].Y != tl.Lanes[0].Y+tlRunY || tl.Runs[0].Y != tl.Lanes[1].Y+tlRunY {
			t.Fatalf("runs %+v", tl.Runs)
		}
	})
}

func TestLeaderTimelineLeavesJobLeasesOut(t *testing.T) {
	g := report.Group{Name: "app", Mode: report.ModeLeader, Status: "held", Holder: ptr("10.0.0.1/a"), Token: 3, AcquiredAt: ptr(now.Add(-time.Minute))}
	terms := []report.Term{
		{Group: "app", Token: 3, Holder: "10.0.0.1/a", AcquiredAt: now.Add(-time.Minute)},
		{Group: "app", Job: ptr("tick"), Token: 9, Holder: "10.0.0.2/b", AcquiredAt: now.Add(-30 * time.Minute), EndedAt: ptr(now.Add(-20 * time.Minute))},
	}
	tl := buildTimeline(g, terms, nil, now.Add(-time.Hour), now, "1h", "")
	if tl.Balanced || len(tl.Lanes) != 1 || len(tl.Bars) != 1 || tl.Lanes[0].Owner != "10.0.0.1/a" {
		t.Fatalf("lanes %+v, bars %+v: want only the leader's term, not a job lease's of the group's balanced past", tl.Lanes, tl.Bars)
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
