package web

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"

	"github.com/soloist-dev/soloist/internal/report"
)

// buildJobTimeline lays out a group in balanced mode between from and now:
// one lane per job, sorted by name; in its upper band a bar per term of the
// job's own lease in its owner's colour, so that a job moving to another
// runner shows as a change of colour at a dashed mark; in its lower band a
// mark per run of the job. The owners' colours are listed for the legend,
// the runner serving the page (self) marked.
func buildJobTimeline(g report.Group, terms []report.Term, runs []report.Run, from, now time.Time, window, self string) timeline {
	tl := timeline{Group: g.Name, Window: window, Balanced: true}
	x := scaler(from, now)

	spans := jobSpans(g, terms, now)
	jobs := map[string]bool{}
	unownable := map[string]bool{}
	for _, j := range g.Jobs {
		jobs[j.Name] = true
		unownable[j.Name] = j.Unownable
	}
	owners := map[string]bool{}
	for _, s := range spans {
		if s.end.After(from) {
			jobs[*s.Job] = true
			owners[s.Holder] = true
		}
	}
	inWindow := runsIn(g.Name, runs, from, now)
	for _, r := range inWindow {
		jobs[r.Job] = true
		owners[r.Owner] = true
	}

	colour := map[string]string{}
	for i, o := range slices.Sorted(maps.Keys(owners)) {
		colour[o] = holderColours[i%len(holderColours)]
		tl.Owners = append(tl.Owners, lane{Owner: o, Label: cut(o, tlLabelN), Colour: colour[o], Self: self != "" && o == self})
	}
	laneY := map[string]float64{}
	for i, j := range slices.Sorted(maps.Keys(jobs)) {
		y := tlTop + float64(i)*tlLaneH
		laneY[j] = y
		tl.Lanes = append(tl.Lanes, lane{Job: j, Label: cut(j, tlLabelN), Y: y, TextY: y + tlLaneH/2 + 4, Unownable: unownable[j]})
	}
	tl.AxisY = tlTop + float64(len(tl.Lanes))*tlLaneH + 4
	tl.Height = tl.AxisY + tlAxisH
	tl.NowLabel = tlX1

	for _, s := range spans {
		if !s.end.After(from) {
			continue
		}
		y := laneY[*s.Job]
		b := bar{
			X: x(s.AcquiredAt), Y: y + tlBarY, H: tlBarH, Colour: colour[s.Holder],
			Title: fmt.Sprintf("%s, term %d of %s: %s to %s", *s.Job, s.Token, s.Holder, s.startText, s.endText),
		}
		b.W = max(x(s.end)-b.X, 1)
		if b.W >= 34 {
			b.Label, b.LabelX, b.LabelY = fmt.Sprintf("#%d", s.Token), b.X+5, b.Y+tlBarH/2+3.5
		}
		tl.Bars = append(tl.Bars, b)
		if s.AcquiredAt.After(from) {
			tl.Moves = append(tl.Moves, move{X: b.X, Y1: y + 2, Y2: y + tlLaneH - 2})
			tl.Summary.Changes++
		}
	}
	drawRuns(&tl, inWindow, func(r report.Run) float64 { return laneY[r.Job] }, now, x)
	tl.Ticks = axisTicks(from, now, x)
	return tl
}

// jobSpan is a term of a job's own lease with the start and end the
// timeline draws.
type jobSpan struct {
	span
	startText string
}

// jobSpans returns the terms of g's jobs' own leases with their ends: when
// the term ended; for a term followed by another, when that began; for the
// job's live term, now; for a term of a runner whose membership expired,
// that expiry (its job leases were renewed with it). A job owned under a
// term older than the terms read starts at the window's start.
func jobSpans(g report.Group, terms []report.Term, now time.Time) []jobSpan {
	byJob := map[string][]report.Term{}
	for _, t := range terms {
		if t.Group == g.Name && t.Job != nil {
			byJob[*t.Job] = append(byJob[*t.Job], t)
		}
	}
	for _, j := range g.Jobs {
		own := byJob[j.Name]
		if j.Owner != nil && j.OwnerTok != nil && (len(own) == 0 || maxToken(own) < *j.OwnerTok) {
			// The live term began before the terms read.
			byJob[j.Name] = append(own, report.Term{Group: g.Name, Token: *j.OwnerTok, Holder: *j.Owner, Job: &j.Name})
		}
	}
	current := map[string]uint64{}
	for _, j := range g.Jobs {
		if j.Owner != nil && j.OwnerTok != nil {
			current[j.Name] = *j.OwnerTok
		}
	}
	expired := map[string]time.Time{}
	for _, m := range g.Members {
		if !m.Live {
			expired[m.Owner] = m.ExpiresAt
		}
	}

	var spans []jobSpan
	for _, job := range slices.Sorted(maps.Keys(byJob)) {
		own := byJob[job]
		sort.Slice(own, func(a, b int) bool { return own[a].Token < own[b].Token })
		for i, t := range own {
			s := jobSpan{startText: clockOf(t.AcquiredAt)}
			if t.AcquiredAt.IsZero() {
				s.startText = "more than a day ago"
			}
			s.span = spanOf(own, i, now, func(t report.Term) (time.Time, string, bool) {
				if tok, live := current[job]; !(live && tok == t.Token) && !expired[t.Holder].IsZero() {
					return expired[t.Holder], clockOf(expired[t.Holder]) + " (expired)", true
				}
				return time.Time{}, "", false
			})
			spans = append(spans, s)
		}
	}
	return spans
}

func maxToken(terms []report.Term) uint64 {
	var m uint64
	for _, t := range terms {
		m = max(m, t.Token)
	}
	return m
}
