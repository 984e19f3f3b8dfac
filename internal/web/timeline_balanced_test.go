package web

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/soloist-dev/soloist/internal/report"
)

func TestJobTimelineLayout(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	from := now.Add(-time.Hour)
	at := func(min float64) time.Time { return from.Add(time.Duration(min * float64(time.Minute))) }
	xAt := func(min float64) float64 { return tlX0 + (tlX1-tlX0)*min/60 }
	near := func(a, b float64) bool { return math.Abs(a-b) < 0.01 }

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
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
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
