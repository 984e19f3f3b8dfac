package web

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/soloist-dev/soloist/internal/report"
)

// The timeline is an SVG drawn on the server. In leader mode it has one lane
// per runner that led or ran something in the window; in its upper band a
// bar per term in the runner's colour, in its lower band a mark per run it
// ran. In balanced mode it has one lane per job (see buildJobTimeline).
// Coordinates are in the SVG's own units; the browser scales the picture to
// the page's width.
const (
	tlWidth  = 1200.0
	tlLabelX = 8.0    // lane labels start here
	tlX0     = 232.0  // the window's start
	tlX1     = 1184.0 // the window's end: now
	tlTop    = 10.0
	tlLaneH  = 40.0
	tlAxisH  = 26.0
	tlBarY   = 5.0  // a term bar's offset in its lane: the upper band
	tlBarH   = 15.0 // a term bar's height
	tlRunY   = 22.0 // a run mark's offset in its lane: the lower band
	tlRunH   = 13.0 // a run mark's height
	tlMinRun = 1.6  // the narrowest run mark
	tlLabelN = 30   // lane labels longer than this are cut
)

// holderColours are the term bars' colours, one per lane in turn. None is
// close to the red of failures or the amber of missed fires.
var holderColours = []string{"#2563eb", "#0d9488", "#7c3aed", "#0891b2", "#4f46e5", "#65a30d"}

// timeline is what the template draws for one group.
type timeline struct {
	Group    string
	Window   string // "1h"
	Balanced bool   // lanes are jobs, bars are coloured by owner, changes are moves
	Height   float64
	AxisY    float64
	Lanes    []lane
	Bars     []bar
	Runs     []runMark
	Changes  []float64 // x of each leader change inside the window
	Moves    []move    // balanced mode: each job's terms begun inside the window
	Owners   []lane    // balanced mode: the owners' colours, for the legend
	Ticks    []axisTick
	Summary  summary
	NowLabel float64 // x of the "now" label
}

type lane struct {
	Owner     string // the runner (leader mode, and the owners' legend)
	Job       string // the job (balanced mode)
	Unownable bool   // the job no live runner may own
	Label     string
	Y         float64 // top
	TextY     float64
	Colour    string
	Self      bool
}

type bar struct {
	X, Y, W, H float64
	Colour     string
	Label      string // the token, when the bar is wide enough
	LabelX     float64
	LabelY     float64
	Title      string
}

// move marks a job's new term in its lane: the job moved to a runner.
type move struct {
	X, Y1, Y2 float64
}

type runMark struct {
	X, Y, W, H float64
	Class      string // ok, failed, missed, running, cancelled
	Title      string
}

type axisTick struct {
	X     float64
	Label string
}

// summary counts what the window holds, for the timeline's caption.
type summary struct {
	Changes, Runs, Failed, Missed int
	Capped                        bool // the run history held more runs than were read
}

// buildTimeline lays out group g's terms and runs between from and now.
// terms and runs may hold other groups' too; runs newest first or not.
// Terms that began before the terms read are known only through g (the
// current one).
func buildTimeline(g report.Group, terms []report.Term, runs []report.Run, from, now time.Time, window, self string) timeline {
	if g.Mode == report.ModeBalanced {
		return buildJobTimeline(g, terms, runs, from, now, window, self)
	}
	tl := timeline{Group: g.Name, Window: window}
	x := scaler(from, now)

	spans := termSpans(g, terms, now)
	owners := map[string]bool{}
	for _, s := range spans {
		if s.end.After(from) {
			owners[s.Holder] = true
		}
	}
	inWindow := runsIn(g.Name, runs, from, now)
	for _, r := range inWindow {
		owners[r.Owner] = true
	}
	names := make([]string, 0, len(owners))
	for o := range owners {
		names = append(names, o)
	}
	sort.Strings(names)
	laneOf := map[string]int{}
	for i, o := range names {
		laneOf[o] = i
		y := tlTop + float64(i)*tlLaneH
		tl.Lanes = append(tl.Lanes, lane{
			Owner: o, Label: cut(o, tlLabelN), Y: y, TextY: y + tlLaneH/2 + 4,
			Colour: holderColours[i%len(holderColours)], Self: self != "" && o == self,
		})
	}
	tl.AxisY = tlTop + float64(len(names))*tlLaneH + 4
	tl.Height = tl.AxisY + tlAxisH
	tl.NowLabel = tlX1

	for _, s := range spans {
		if !s.end.After(from) {
			continue
		}
		i := laneOf[s.Holder]
		b := bar{
			X: x(s.AcquiredAt), Y: tl.Lanes[i].Y + tlBarY, H: tlBarH, Colour: tl.Lanes[i].Colour,
			Title: fmt.Sprintf("term %d of %s: %s to %s", s.Token, s.Holder, clockOf(s.AcquiredAt), s.endText),
		}
		b.W = max(x(s.end)-b.X, 1)
		if b.W >= 34 {
			b.Label, b.LabelX, b.LabelY = fmt.Sprintf("#%d", s.Token), b.X+5, b.Y+tlBarH/2+3.5
		}
		tl.Bars = append(tl.Bars, b)
		if s.AcquiredAt.After(from) {
			tl.Changes = append(tl.Changes, x(s.AcquiredAt))
			tl.Summary.Changes++
		}
	}

	laneY := make(map[string]float64, len(names))
	for o, i := range laneOf {
		laneY[o] = tl.Lanes[i].Y
	}
	drawRuns(&tl, inWindow, func(r report.Run) float64 { return laneY[r.Owner] }, now, x)
	tl.Ticks = axisTicks(from, now, x)
	return tl
}

// scaler maps a time to its x in the window from..now, clipped to it.
func scaler(from, now time.Time) func(time.Time) float64 {
	scale := (tlX1 - tlX0) / float64(now.Sub(from))
	return func(t time.Time) float64 {
		switch {
		case t.Before(from):
			t = from
		case t.After(now):
			t = now
		}
		return tlX0 + float64(t.Sub(from))*scale
	}
}

// runsIn returns group's runs that started (or, missed, were due) in the
// window from..now.
func runsIn(group string, runs []report.Run, from, now time.Time) []report.Run {
	var in []report.Run
	for _, r := range runs {
		if r.Group == group && !runStart(r).Before(from) && !runStart(r).After(now) {
			in = append(in, r)
		}
	}
	return in
}

// drawRuns adds a mark per run in the lower band of the lane at laneY(run),
// and counts them in the summary.
func drawRuns(tl *timeline, inWindow []report.Run, laneY func(report.Run) float64, now time.Time, x func(time.Time) float64) {
	// Draw successes first, so that failures are never hidden under them.
	sort.SliceStable(inWindow, func(a, b int) bool {
		return outcomeRank(inWindow[a].Outcome) < outcomeRank(inWindow[b].Outcome)
	})
	for _, r := range inWindow {
		start := runStart(r)
		end := now
		if r.FinishedAt != nil {
			end = *r.FinishedAt
		}
		if r.Outcome == "missed" {
			end = start
		}
		m := runMark{X: x(start), Y: laneY(r) + tlRunY, H: tlRunH, Class: outcomeClass(r.Outcome), Title: runTitle(r)}
		m.W = max(x(end)-m.X, tlMinRun)
		tl.Runs = append(tl.Runs, m)
		tl.Summary.Runs++
		switch m.Class {
		case "failed":
			tl.Summary.Failed++
		case "missed":
			tl.Summary.Missed++
		}
	}
}

// span is a term with the end the timeline draws.
type span struct {
	report.Term
	end     time.Time
	endText string
}

// termSpans returns g's terms with their ends: when the term ended, or for
// the term that lasts, now (held), its expiry (expired) or its release.
func termSpans(g report.Group, terms []report.Term, now time.Time) []span {
	var own []report.Term
	for _, t := range terms {
		if t.Group == g.Name && t.Job == nil { // not a job's own lease (balanced mode)
			own = append(own, t)
		}
	}
	sort.Slice(own, func(a, b int) bool { return own[a].Token < own[b].Token })
	if g.Holder != nil && g.AcquiredAt != nil && (len(own) == 0 || own[len(own)-1].Token < g.Token) {
		// The current term began before the terms read.
		own = append(own, report.Term{Group: g.Name, Token: g.Token, Holder: *g.Holder, AcquiredAt: *g.AcquiredAt})
	}
	spans := make([]span, 0, len(own))
	for i := range own {
		spans = append(spans, spanOf(own, i, now, func(t report.Term) (time.Time, string, bool) {
			switch {
			case t.Token == g.Token && g.Status == "expired" && g.ExpiresAt != nil:
				return *g.ExpiresAt, clockOf(*g.ExpiresAt) + " (expired)", true
			case t.Token == g.Token && g.Status == "free" && g.ReleasedAt != nil:
				return *g.ReleasedAt, clockOf(*g.ReleasedAt) + " (released)", true
			}
			return time.Time{}, "", false
		}))
	}
	return spans
}

// spanOf is term i of one lease's terms (by token) with its end: when it
// ended; if it did not, when the next began; for the last, what lastEnd
// says, or now when it says nothing (ok false): the term lasts.
func spanOf(terms []report.Term, i int, now time.Time, lastEnd func(report.Term) (end time.Time, text string, ok bool)) span {
	t := terms[i]
	s := span{Term: t}
	switch {
	case t.EndedAt != nil:
		s.end, s.endText = *t.EndedAt, clockOf(*t.EndedAt)
		if t.EndReason != nil {
			s.endText += " (" + *t.EndReason + ")"
		}
	case i+1 < len(terms): // not closed, yet followed: ended by the next one
		s.end, s.endText = terms[i+1].AcquiredAt, clockOf(terms[i+1].AcquiredAt)
	default:
		var ok bool
		if s.end, s.endText, ok = lastEnd(t); !ok {
			s.end, s.endText = now, "now"
		}
	}
	if s.end.After(now) {
		s.end = now
	}
	return s
}

// runStart is where a run's mark begins: when it started, or for a missed
// fire, its scheduled time.
func runStart(r report.Run) time.Time {
	if r.StartedAt != nil {
		return *r.StartedAt
	}
	return r.Fire
}

func runTitle(r report.Run) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s, fire %s: %s", r.Job, clockOf(r.Fire), r.Outcome)
	if r.DurationMs != nil {
		fmt.Fprintf(&b, " in %s", msText(*r.DurationMs))
	}
	fmt.Fprintf(&b, " on %s (token %d)", r.Owner, r.Token)
	if r.Message != nil && *r.Message != "" {
		b.WriteString(": " + cut(oneLine(*r.Message), 120))
	}
	return b.String()
}

// outcomeClass sorts outcomes into what the page colours alike.
func outcomeClass(outcome string) string {
	switch outcome {
	case "succeeded":
		return "ok"
	case "failed", "timed_out", "lost", "abandoned":
		return "failed"
	case "missed":
		return "missed"
	case "running":
		return "running"
	default: // cancelled
		return "cancelled"
	}
}

func outcomeRank(outcome string) int {
	switch outcomeClass(outcome) {
	case "ok", "cancelled":
		return 0
	case "running":
		return 1
	case "missed":
		return 2
	default:
		return 3
	}
}

// axisTicks marks round times along the window: every minute of a short
// window, every 5 or 10 minutes of longer ones.
func axisTicks(from, now time.Time, x func(time.Time) float64) []axisTick {
	span := now.Sub(from)
	step := 10 * time.Minute
	switch {
	case span <= 10*time.Minute:
		step = time.Minute
	case span <= 30*time.Minute:
		step = 5 * time.Minute
	}
	var ticks []axisTick
	for t := from.Truncate(step).Add(step); t.Before(now); t = t.Add(step) {
		if x(now)-x(t) < 60 { // too close to the "now" label
			break
		}
		ticks = append(ticks, axisTick{X: x(t), Label: t.UTC().Format("15:04")})
	}
	return ticks
}

// cut shortens s to n characters, ending it with an ellipsis.
func cut(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
