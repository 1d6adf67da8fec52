package ticker

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/jetcron/jetcron/job"
)

func mustPlan(t *testing.T, p *planner, key, spec string) *jobPlan {
	t.Helper()
	j, err := job.Parse(key, []byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := p.plan(j)
	if err != nil {
		t.Fatal(err)
	}
	return plan
}

func TestJobsWithTheSameScheduleAndConstraintsShareThem(t *testing.T) {
	var p planner
	a := mustPlan(t, &p, "a", jobYAML("0 * * * *", ""))
	b := mustPlan(t, &p, "b", jobYAML("0 * * * *", ""))
	c := mustPlan(t, &p, "c", jobYAML("30 * * * *", "  time_zone: Europe/Paris"))
	if a.schedule != b.schedule || a.placement != b.placement {
		t.Fatal("two jobs with one schedule and the same constraints keep a copy each")
	}
	if a.schedule == c.schedule {
		t.Fatal("jobs with different schedules share one")
	}
	at := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	if got, want := c.schedule.Next(at), time.Date(2026, 3, 2, 10, 30, 0, 0, time.UTC); !got.Equal(want) {
		t.Fatalf("shared schedule: next tick after %s is %s, want %s", at, got, want)
	}
	if ok, _ := a.placement.Eligible(map[string]string{"node.datacenter": "dc2", "driver.raw_exec": "1"}); ok {
		t.Fatal("a dc1 job's placement accepts a node in dc2")
	}
	if ok, why := a.placement.Eligible(map[string]string{"node.datacenter": "dc1", "driver.raw_exec": "1"}); !ok {
		t.Fatalf("a dc1 job's placement refuses a node in dc1: %s", why)
	}
}

func TestASharedValueNoPlanUsesAnyMoreIsDropped(t *testing.T) {
	var c sharedCache[string, schedule]
	var inUse []*schedule // every 100th value stays in use
	const n = 20000
	for i := range n {
		v := c.share(fmt.Sprint(i), &schedule{})
		if i%100 == 0 {
			inUse = append(inUse, v)
		}
		if i%1000 == 999 {
			runtime.GC()
		}
	}
	if len(c.m) > n/4 {
		t.Fatalf("the cache keeps %d entries for %d values in use", len(c.m), len(inUse))
	}
	for i, v := range inUse {
		if c.share(fmt.Sprint(100*i), &schedule{}) != v {
			t.Fatalf("value %d, in use, was not shared", 100*i)
		}
	}
	fresh := &schedule{}
	if c.share("1", fresh) != fresh {
		t.Fatal("a value no plan uses any more was shared")
	}
}
