// Package balance decides which runner of a group in balanced mode should
// own which job. Every runner computes the same answer from the same view of
// the group (its live runners, its jobs, and who owns each job now), and then
// takes only the jobs the answer gives it and hands over only the jobs the
// answer gives to another. The leases decide who really owns a job; this is
// only where they should go, so runners that see the group a moment apart
// disagree for a moment and never run a job twice.
//
// The answer keeps every job where it is unless moving it evens the load:
//
//  1. A job stays with its owner when the owner is live and may own it.
//  2. Every other job (heaviest first, then by name) goes to the runner with
//     the least load among those that may own it.
//  3. While some job can move from a runner to another that may own it, and
//     the move leaves the receiver lighter than the giver was (load(to) +
//     weight < load(from)), it moves: from the most loaded runner first, its
//     least attached job first.
//
// Ties are broken by rendezvous hashing of (job, runner), so that a job's
// preferred runners do not depend on how the runners are listed. With equal
// weights, step 3 stops when no two runners' loads differ by more than one:
// each of N runners owns ⌊J/N⌋ or ⌈J/N⌉ of J jobs. Each move strictly
// lowers the sum of squared loads, so step 3 ends; and only jobs of runners
// above their share move, so a runner joining or leaving moves about J/N
// jobs, not all of them.
package balance

import (
	"hash/fnv"
	"slices"
	"strings"
)

// Job is a job as the balance sees it.
type Job struct {
	Name   string
	Weight int      // at least 1
	Hosts  []string // empty: any runner
}

// Eligible reports whether runner owner may own a job limited to hosts: an
// entry is a whole owner or its leading '/'-separated fields (an owner starts
// with its host's IP), as the group allow-list reads them.
func Eligible(owner string, hosts []string) bool {
	if len(hosts) == 0 {
		return true
	}
	for _, h := range hosts {
		if owner == h || strings.HasPrefix(owner, h+"/") {
			return true
		}
	}
	return false
}

// Assign returns the owner each job should have: a member, or "" when no
// member may own it. members are the live runners; owners maps a job to its
// live owner now (absent: nobody).
func Assign(members []string, jobs []Job, owners map[string]string) map[string]string {
	live := make(map[string]bool, len(members))
	for _, m := range members {
		live[m] = true
	}
	ms := slices.Clone(members)
	slices.Sort(ms)
	ms = slices.Compact(ms)

	load := make(map[string]int, len(ms))
	owned := make(map[string][]Job, len(ms)) // by member
	target := make(map[string]string, len(jobs))
	var free []Job
	for _, j := range jobs {
		if o := owners[j.Name]; live[o] && Eligible(o, j.Hosts) {
			target[j.Name] = o
			load[o] += weight(j)
			owned[o] = append(owned[o], j)
			continue
		}
		free = append(free, j)
	}

	// 2. Free jobs, heaviest first, to the least loaded runner that may own them.
	slices.SortFunc(free, func(a, b Job) int {
		if weight(a) != weight(b) {
			return weight(b) - weight(a)
		}
		return strings.Compare(a.Name, b.Name)
	})
	for _, j := range free {
		to := lightest(ms, j, load, "")
		target[j.Name] = to
		if to != "" {
			load[to] += weight(j)
			owned[to] = append(owned[to], j)
		}
	}

	// 3. Even out: move a job from a heavier runner to a lighter one while
	// that lowers the imbalance. No move can when the loads differ by no
	// more than the lightest job weighs: the usual case, checked first.
	for moved := !settled(ms, jobs, load); moved; {
		moved = false
		byLoad := slices.Clone(ms)
		slices.SortStableFunc(byLoad, func(a, b string) int { return load[b] - load[a] })
		for _, from := range byLoad {
			js := owned[from]
			// Least attached first: the job whose hash prefers this runner least.
			slices.SortFunc(js, func(a, b Job) int { return cmpScore(score(a.Name, from), score(b.Name, from)) })
			for i, j := range js {
				to := lightest(ms, j, load, from)
				if to == "" || load[to]+weight(j) >= load[from] {
					continue
				}
				target[j.Name] = to
				load[from] -= weight(j)
				load[to] += weight(j)
				owned[from] = slices.Delete(js, i, i+1)
				owned[to] = append(owned[to], j)
				moved = true
				break
			}
			if moved {
				break
			}
		}
	}
	return target
}

// settled reports whether no job can move: the loads of the members differ
// by no more than the lightest job weighs, so load(to) + weight < load(from)
// holds for no pair.
func settled(members []string, jobs []Job, load map[string]int) bool {
	if len(members) == 0 || len(jobs) == 0 {
		return true
	}
	lo, hi := load[members[0]], load[members[0]]
	for _, m := range members[1:] {
		lo, hi = min(lo, load[m]), max(hi, load[m])
	}
	minW := weight(jobs[0])
	for _, j := range jobs[1:] {
		minW = min(minW, weight(j))
	}
	return hi-lo <= minW
}

// lightest is the least loaded member other than not that may own j; ties go
// to the member j's hash prefers. "" when there is none. Hashes are computed
// only for ties.
func lightest(members []string, j Job, load map[string]int, not string) string {
	best := ""
	var bestScore uint64
	scored := false
	for _, m := range members {
		if m == not || !Eligible(m, j.Hosts) {
			continue
		}
		switch {
		case best == "" || load[m] < load[best]:
			best, scored = m, false
		case load[m] == load[best]:
			if !scored {
				bestScore, scored = score(j.Name, best), true
			}
			if s := score(j.Name, m); s > bestScore {
				best, bestScore = m, s
			}
		}
	}
	return best
}

// score is the rendezvous hash of a job on a runner.
func score(job, member string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(job))
	h.Write([]byte{0})
	h.Write([]byte(member))
	return mix(h.Sum64())
}

// mix spreads FNV's output over all 64 bits (the finaliser of MurmurHash3),
// so that names that differ only at the end do not score alike.
func mix(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

func cmpScore(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func weight(j Job) int { return max(j.Weight, 1) }
