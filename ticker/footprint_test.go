package ticker

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/rs/zerolog"

	"github.com/jetcron/jetcron/clock"
	"github.com/jetcron/jetcron/subjects"
)

// footprintJobs is how many jobs the footprint tests load: enough to see what one
// costs, few enough for the race detector.
const footprintJobs = 4000

// storeWithJobs is a store holding n hourly jobs, each with the state a leader wrote
// for it, as the scale benchmark makes them: each with a task of its own, and one
// schedule for every 33 jobs (its 100,000 jobs share 3,000).
func storeWithJobs(n int) *memStore {
	s := newMemStore(clock.Real{})
	for i := range n {
		key := fmt.Sprintf("scale-%06d", i)
		spec := fmt.Sprintf(`datacenters: [dc1]
type: batch
periodic:
  cron: "%d %d * * * * *"
task:
  driver: raw_exec
  config:
    command: /opt/jetcron-bench/bin/stamp
    args: ["/var/lib/jetcron-bench/cluster-scale/scale.log"]
`, i%60, i/60%2)
		rev := s.set(JobChanged, key, []byte(spec))
		s.set(JobStateChanged, key, mustJSON(subjects.JobState{Job: key, Valid: true, Spec: spec, Revision: rev}))
	}
	return s
}

// liveHeap is the heap in use after a collection.
func liveHeap() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func TestAStandbyKeepsAJobInAboutAKilobyte(t *testing.T) {
	store := storeWithJobs(footprintJobs)
	before := liveHeap()
	d := newDispatcher(store, clock.Real{}, zerolog.Nop())
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); _ = d.run(ctx, nil, nil) }()
	<-d.loadedSignal()
	perJob := (int64(liveHeap()) - int64(before)) / footprintJobs
	cancel()
	<-done
	t.Logf("%d bytes per job", perJob)
	if perJob > 1280 {
		t.Fatalf("a standby keeps %d bytes per job, want about 1 KiB (at most 1.25)", perJob)
	}
}
