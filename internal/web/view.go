package web

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/soloist-dev/soloist/internal/report"
)

// windows are the timeline spans a viewer may pick with ?window=; the first
// is the default.
var windows = []struct {
	name string
	span time.Duration
}{
	{"1h", time.Hour},
	{"15m", 15 * time.Minute},
	{"5m", 5 * time.Minute},
}

// maxWindow is the longest window: what a read fetches runs for.
const maxWindow = time.Hour

// problemRows is how many missed or abandoned fires the page lists.
const problemRows = 10

// page is what the templates render: every value formatted, nothing left to
// compute in a template.
type page struct {
	Title          string
	Version        string
	RefreshMs      int64
	RefreshSeconds int64  // for the meta refresh without JavaScript
	RefreshText    string // "2s"
	Src            string // the live fragment's URL, relative
	Window         string
	Windows        []windowLink

	Now      string // the database clock
	ReadAgo  string // how old the data is
	Error    string // the latest read failed: why
	NoData   bool   // and there is nothing to show from before
	Groups   []groupRow
	Runners  []runnerRow // of the groups in balanced mode
	Lines    []timeline
	Jobs     []jobRow
	Problems []problemRow
	More     int // problems not listed
}

type windowLink struct {
	Label, Href string
	Current     bool
}

type groupRow struct {
	Name, Mode           string
	Status, StatusClass  string
	Holder, HolderIP     string
	Token                string
	Heartbeat, ExpiresIn string
	Terms24h             int64
	Allowed              string
	Jobs                 int
}

// runnerRow is a runner of a group in balanced mode.
type runnerRow struct {
	Group, Owner      string
	Live              bool
	State             string // live, or when it expired
	Joined, Renewed   string
	JobsOwned, Weight int64
	Jobs              string // the jobs it owns, by name
	Self              bool
}

type jobRow struct {
	Group, Name, Schedule string
	Paused                bool
	Owner                 string // who runs it now: the leader, or the job's owner with its token
	Unownable             bool   // no live runner may own it
	Hosts                 string
	LastFire, LastAgo     string
	Outcome, OutcomeClass string
	Message               string
	RanOn                 string
	NextFire, NextIn      string
	Problems              int64
}

type problemRow struct {
	Group, Job, Fire, Outcome, Class, Owner, Message string
	Token                                            uint64
}

// windowOf reads ?window=, falling back to the default for anything else.
func windowOf(q url.Values) (string, time.Duration) {
	for _, w := range windows {
		if q.Get("window") == w.name {
			return w.name, w.span
		}
	}
	return windows[0].name, windows[0].span
}

// buildPage turns a snapshot into a page. s may be nil (nothing read yet);
// readErr is the latest read's error.
func buildPage(s *snapshot, readErr error, window string, span time.Duration, self string, now time.Time) page {
	p := page{Title: "Soloist", Window: window, Src: "fragment?window=" + url.QueryEscape(window)}
	for _, w := range windows {
		p.Windows = append(p.Windows, windowLink{Label: w.name, Href: "?window=" + w.name, Current: w.name == window})
	}
	if readErr != nil {
		p.Error = readErr.Error()
	}
	if s == nil {
		p.NoData = true
		return p
	}
	p.Now = s.now.Format("2006-01-02 15:04:05") + " UTC"
	p.ReadAgo = durText(now.Sub(s.readAt)) + " ago"
	dbNow := s.now
	for _, g := range s.status.Groups {
		p.Groups = append(p.Groups, groupRowOf(g))
		p.Runners = append(p.Runners, runnerRowsOf(g, self, dbNow)...)
		p.Lines = append(p.Lines, buildTimeline(g, s.terms, s.runs, dbNow.Add(-span), dbNow, window, self))
		for _, j := range g.Jobs {
			p.Jobs = append(p.Jobs, jobRowOf(g, j, dbNow))
		}
	}
	for i := range p.Lines {
		p.Lines[i].Summary.Capped = s.capped
	}
	for i, r := range s.status.Problems {
		if i == problemRows {
			p.More = len(s.status.Problems) - problemRows
			break
		}
		p.Problems = append(p.Problems, problemRow{
			Group: r.Group, Job: r.Job, Fire: dateClock(r.Fire, dbNow), Outcome: r.Outcome,
			Class: outcomeClass(r.Outcome), Owner: r.Owner, Token: r.Token, Message: cut(oneLine(deref(r.Message)), 140),
		})
	}
	return p
}

func groupRowOf(g report.Group) groupRow {
	if g.Mode == report.ModeBalanced {
		return balancedGroupRow(g)
	}
	row := groupRow{
		Name: g.Name, Mode: g.Mode, Status: g.Status, Holder: deref(g.Holder), HolderIP: deref(g.HolderIP),
		Token: fmt.Sprint(g.Token), Heartbeat: "-", ExpiresIn: "-", Terms24h: g.LeaderChanges,
		Allowed: "anyone", Jobs: len(g.Jobs),
	}
	switch g.Status {
	case "held":
		row.StatusClass = "ok"
		if g.RevokedAt != nil {
			row.Status, row.StatusClass = "held, revoked", "warn"
		}
	case "expired":
		row.StatusClass = "bad"
	default:
		row.StatusClass = "idle"
	}
	if g.Status != "free" && g.HeartbeatAgeMs != nil {
		row.Heartbeat = msText(*g.HeartbeatAgeMs) + " ago"
	}
	if g.ExpiresInMs > 0 {
		row.ExpiresIn = msText(g.ExpiresInMs)
	}
	if g.Token == 0 {
		row.Token = "-"
	}
	if row.Holder == "" {
		row.Holder, row.HolderIP = "-", "-"
	}
	if len(g.AllowedHosts) > 0 {
		row.Allowed = strings.Join(g.AllowedHosts, " ")
	}
	return row
}

// balancedGroupRow is a group in balanced mode: its own lease leads
// nothing, so the row counts its live runners instead of naming a holder.
func balancedGroupRow(g report.Group) groupRow {
	live := 0
	for _, m := range g.Members {
		if m.Live {
			live++
		}
	}
	row := groupRow{
		Name: g.Name, Mode: g.Mode, Status: "balanced", StatusClass: "ok", HolderIP: "-", Token: "-",
		Heartbeat: "-", ExpiresIn: "-", Terms24h: g.LeaderChanges, Allowed: "per job", Jobs: len(g.Jobs),
	}
	switch live {
	case 0:
		row.Holder, row.StatusClass = "no live runner", "bad"
	case 1:
		row.Holder = "1 live runner"
	default:
		row.Holder = fmt.Sprintf("%d live runners", live)
	}
	return row
}

func runnerRowsOf(g report.Group, self string, now time.Time) []runnerRow {
	rows := make([]runnerRow, 0, len(g.Members))
	for _, m := range g.Members {
		var owned []string
		for _, j := range g.Jobs {
			if j.Owner != nil && *j.Owner == m.Owner {
				owned = append(owned, j.Name)
			}
		}
		row := runnerRow{
			Group: g.Name, Owner: m.Owner, Live: m.Live, State: "live", Joined: dateClock(m.JoinedAt, now),
			Renewed: durText(now.Sub(m.RenewedAt)) + " ago", JobsOwned: m.JobsOwned, Weight: m.WeightOwned,
			Jobs: strings.Join(owned, " "), Self: self != "" && m.Owner == self,
		}
		if !m.Live {
			row.State = "expired " + durText(now.Sub(m.ExpiresAt)) + " ago"
		}
		rows = append(rows, row)
	}
	return rows
}

func jobRowOf(g report.Group, j report.Job, now time.Time) jobRow {
	row := jobRow{
		Group: g.Name, Name: j.Name, Schedule: deref(j.Schedule), Paused: j.Paused,
		LastFire: "-", Outcome: "-", OutcomeClass: "none", RanOn: deref(j.LastOwner), Owner: "-",
		NextFire: "-", Problems: j.Problems24h, Message: cut(oneLine(deref(j.LastMessage)), 140),
		Unownable: j.Unownable, Hosts: strings.Join(j.Hosts, ","),
	}
	switch {
	case g.Mode == report.ModeBalanced && j.Owner != nil && j.OwnerTok != nil:
		row.Owner = fmt.Sprintf("%s #%d", *j.Owner, *j.OwnerTok)
	case g.Mode == report.ModeBalanced:
		row.Owner = "none yet"
	case g.Status == "held":
		row.Owner = "the leader"
	}
	if j.LastFire != nil {
		row.LastFire, row.LastAgo = dateClock(*j.LastFire, now), durText(now.Sub(*j.LastFire))+" ago"
	}
	if j.LastOutcome != nil {
		row.Outcome, row.OutcomeClass = *j.LastOutcome, outcomeClass(*j.LastOutcome)
	}
	switch {
	case j.Paused:
		row.NextFire = "paused"
	case j.NextFire != nil:
		row.NextFire = dateClock(*j.NextFire, now)
		if d := j.NextFire.Sub(now); d > 0 {
			row.NextIn = "in " + durText(d)
		}
	}
	return row
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// clockOf is a time of day in UTC.
func clockOf(t time.Time) string { return t.UTC().Format("15:04:05") }

// dateClock is a time of day in UTC, with the date when it is not now's.
func dateClock(t, now time.Time) string {
	if t.UTC().Format(time.DateOnly) == now.UTC().Format(time.DateOnly) {
		return clockOf(t)
	}
	return t.UTC().Format("Jan 2 15:04:05")
}

func msText(ms int64) string { return durText(time.Duration(ms) * time.Millisecond) }

// durText is a duration as a person reads it: 850ms, 4.2s, 3m10s, 2h5m, 3d4h.
func durText(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	case d < time.Hour:
		d = d.Round(time.Second)
		if d%time.Minute == 0 {
			return fmt.Sprintf("%dm", d/time.Minute)
		}
		return d.String()
	case d < 48*time.Hour:
		d = d.Round(time.Minute)
		if d%time.Hour == 0 {
			return fmt.Sprintf("%dh", d/time.Hour)
		}
		return strings.TrimSuffix(d.String(), "0s")
	default:
		days := d / (24 * time.Hour)
		return fmt.Sprintf("%dd%dh", days, (d-days*24*time.Hour)/time.Hour)
	}
}
