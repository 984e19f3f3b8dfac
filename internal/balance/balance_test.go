package balance

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return out
}

func unitJobs(n int) []Job {
	var js []Job
	for _, name := range names("job-", n) {
		js = append(js, Job{Name: name, Weight: 1})
	}
	return js
}

func loads(target map[string]string, jobs []Job) map[string]int {
	l := map[string]int{}
	for _, j := range jobs {
		if o := target[j.Name]; o != "" {
			l[o] += weight(j)
		}
	}
	return l
}

// settle applies Assign until the owners stop changing, as the runners do
// round after round, and returns the rounds it took.
func settle(t *testing.T, members []string, jobs []Job, owners map[string]string) (map[string]string, int) {
	t.Helper()
	for round := 1; round <= 10; round++ {
		target := Assign(members, jobs, owners)
		if fmt.Sprint(target) == fmt.Sprint(owners) {
			return target, round
		}
		owners = target
	}
	t.Fatal("the assignment did not settle in 10 rounds")
	return nil, 0
}

func TestEqualJobsSplitIntoFloorAndCeiling(t *testing.T) {
	for _, c := range []struct{ n, j int }{{3, 6}, {3, 7}, {1, 5}, {4, 1}, {10, 100}, {100, 1000}, {7, 1000}} {
		members := names("10.0.0.", c.n)
		jobs := unitJobs(c.j)
		target, _ := settle(t, members, jobs, map[string]string{})
		l := loads(target, jobs)
		lo, hi := c.j/c.n, (c.j+c.n-1)/c.n
		for _, m := range members {
			if l[m] < lo || l[m] > hi {
				t.Errorf("N=%d J=%d: %s owns %d jobs, want %d or %d", c.n, c.j, m, l[m], lo, hi)
			}
		}
	}
}

func TestAJoinOrALeaveMovesOnlyAFairShare(t *testing.T) {
	members := names("10.0.0.", 10)
	jobs := unitJobs(1000)
	before, _ := settle(t, members, jobs, map[string]string{})

	joined, _ := settle(t, append(slices.Clone(members), "10.0.0.99"), jobs, before)
	moved := 0
	for _, j := range jobs {
		if joined[j.Name] != before[j.Name] {
			moved++
			if joined[j.Name] != "10.0.0.99" {
				t.Errorf("%s moved from %s to %s, not to the runner that joined", j.Name, before[j.Name], joined[j.Name])
			}
		}
	}
	if moved != 90 && moved != 91 {
		t.Errorf("a join moved %d of 1000 jobs; ⌊1000/11⌋ = 90 should have", moved)
	}

	left, _ := settle(t, members[1:], jobs, before)
	moved = 0
	for _, j := range jobs {
		if left[j.Name] != before[j.Name] {
			moved++
			if before[j.Name] != members[0] {
				t.Errorf("%s moved from %s, a runner that is still live", j.Name, before[j.Name])
			}
		}
	}
	if moved != 100 {
		t.Errorf("a leave moved %d jobs; the 100 of the runner that left should have", moved)
	}
}

func TestWeightsAndHosts(t *testing.T) {
	members := []string{"10.0.0.1/a/1", "10.0.0.2/b/2", "10.0.0.3/c/3"}
	jobs := []Job{
		{Name: "heavy", Weight: 4},
		{Name: "pinned", Weight: 1, Hosts: []string{"10.0.0.2"}},
		{Name: "nowhere", Weight: 1, Hosts: []string{"10.9.9.9"}},
		{Name: "x", Weight: 1}, {Name: "y", Weight: 1}, {Name: "z", Weight: 1}, {Name: "w", Weight: 1},
	}
	target, _ := settle(t, members, jobs, map[string]string{})
	if target["pinned"] != "10.0.0.2/b/2" {
		t.Errorf("pinned went to %q", target["pinned"])
	}
	if target["nowhere"] != "" {
		t.Errorf("a job no runner may own went to %q", target["nowhere"])
	}
	l := loads(target, jobs)
	// Total weight 9 on three runners: 4 | 3 | 2 at worst, never 5 or more.
	for m, w := range l {
		if w > 4 {
			t.Errorf("%s carries weight %d: %v", m, w, target)
		}
	}
	// An owner on a host the job does not allow gives it up.
	owners := map[string]string{"pinned": "10.0.0.1/a/1"}
	if got := Assign(members, jobs, owners)["pinned"]; got != "10.0.0.2/b/2" {
		t.Errorf("a job on a host it does not allow stays with %q", got)
	}
}

func TestTheAnswerDoesNotDependOnOrder(t *testing.T) {
	members := names("m", 7)
	jobs := unitJobs(50)
	owners := map[string]string{}
	for i, j := range jobs {
		if i%3 == 0 {
			owners[j.Name] = members[i%2]
		}
	}
	want := fmt.Sprint(Assign(members, jobs, owners))
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		m, js := slices.Clone(members), slices.Clone(jobs)
		rng.Shuffle(len(m), func(i, k int) { m[i], m[k] = m[k], m[i] })
		rng.Shuffle(len(js), func(i, k int) { js[i], js[k] = js[k], js[i] })
		if got := fmt.Sprint(Assign(m, js, owners)); got != want {
			t.Fatalf("a shuffled view gave another answer:\n%s\n%s", got, want)
		}
	}
}

func TestEligible(t *testing.T) {
	for _, c := range []struct {
		owner string
		hosts []string
		want  bool
	}{
		{"10.0.0.1/web/42", nil, true},
		{"10.0.0.1/web/42", []string{"10.0.0.1"}, true},
		{"10.0.0.1/web/42", []string{"10.0.0.1/web"}, true},
		{"10.0.0.10/web/42", []string{"10.0.0.1"}, false},
		{"10.0.0.1/web/42", []string{"10.0.0.2", "10.0.0.1/web/42"}, true},
	} {
		if got := Eligible(c.owner, c.hosts); got != c.want {
			t.Errorf("Eligible(%q, %q) = %v", c.owner, c.hosts, got)
		}
	}
}
