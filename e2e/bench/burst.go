package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetcron/jetcron/subjects"
)

// burstFigure: n jobs due in the same second T (a 7-field cron naming that second),
// each running the stamp program once; then the floor: the bench spawns the same n
// processes directly at another whole second.
func (e *env) burstFigure(b *bc, n int) error {
	ctx := e.ctx
	prefix := fmt.Sprintf("burst%d", n)
	ledger := filepath.Join(b.dir, prefix+".log")
	floorLedger := filepath.Join(b.dir, prefix+"-floor.log")
	lead := 10*time.Second + time.Duration(n)*6*time.Millisecond
	T := time.Now().Truncate(time.Second).Add(lead).UTC()
	cron := fmt.Sprintf("%d %d %d %d %d * %d", T.Second(), T.Minute(), T.Hour(), T.Day(), int(T.Month()), T.Year())
	keys := make([]string, n)
	e.logf("burst %d [%s]: storing %d jobs due at %s (cron %q)", n, b.label, n, T.Format("15:04:05"), cron)
	t0 := time.Now()
	vals := make([][]byte, n)
	for i := range n {
		keys[i] = fmt.Sprintf("%s-%05d", prefix, i)
		vals[i] = []byte(e.jobYAML(cron, ledger))
	}
	if err := b.putMany(ctx, keys, vals); err != nil {
		return err
	}
	stored := time.Since(t0)
	// Ready: the ticker wrote each job's state (it parsed and scheduled it).
	ready, err := b.waitJobStates(ctx, prefix, n, T.Add(-time.Second))
	if err != nil {
		return err
	}
	e.logf("burst %d [%s]: stored in %s, %d/%d scheduled by the ticker %s before T", n, b.label, stored.Round(time.Millisecond), ready, n, time.Until(T).Round(time.Millisecond))
	if ready < n {
		e.notes = append(e.notes, fmt.Sprintf("burst %d [%s]: only %d of %d jobs were scheduled 1 s before they were due", n, b.label, ready, n))
	}
	var prof <-chan error
	profPath := filepath.Join(b.dir, prefix+"-leader.pprof")
	if e.profile {
		if p, err := b.holder(ctx); err == nil {
			_ = sleepUntil(ctx, T.Add(-time.Second))
			prof = cpuProfile(p, 10*time.Second, profPath)
		}
	}
	terms := b.watchTerms(ctx)
	deadline := T.Add(30*time.Second + time.Duration(n)*20*time.Millisecond)
	for countLines(ledger) < n && time.Now().Before(deadline) {
		if err := sleepUntil(ctx, time.Now().Add(200*time.Millisecond)); err != nil {
			return err
		}
	}
	_ = sleepUntil(ctx, time.Now().Add(2*time.Second)) // a doubled run would show by now
	load := loadavg()
	moves := terms()
	lines, err := readLedger(ledger)
	if err != nil {
		return err
	}
	perRun := map[string]int{}
	var lat []time.Duration
	for _, l := range lines {
		perRun[l.run]++
		if perRun[l.run] == 1 {
			lat = append(lat, time.Duration(l.start-l.sched*1e9))
		}
	}
	doubled := 0
	for _, c := range perRun {
		if c > 1 {
			doubled++
		}
	}
	started := len(perRun)
	// Placement and claim from the run records.
	created, claimed := b.burstRecords(ctx, keys, T.Unix())

	// Floor: the same n processes spawned directly at a whole second.
	_ = sleepUntil(ctx, time.Now().Add(3*time.Second))
	F := time.Now().Truncate(time.Second).Add(2 * time.Second)
	_ = sleepUntil(ctx, F)
	var wg sync.WaitGroup
	ferr := 0
	for i := range n {
		cmd := exec.Command(e.stamp, floorLedger)
		cmd.Env = []string{fmt.Sprintf("JETCRON_RUN_ID=floor/%d", i), fmt.Sprintf("JETCRON_SCHEDULED=%d", F.UnixNano())}
		if err := cmd.Start(); err != nil {
			ferr++
			continue
		}
		wg.Add(1)
		go func() { defer wg.Done(); _ = cmd.Wait() }()
	}
	wg.Wait()
	flines, err := readLedger(floorLedger)
	if err != nil {
		return err
	}
	var flat []time.Duration
	for _, l := range flines {
		flat = append(flat, time.Duration(l.start-l.sched))
	}
	js, fs := statsOf(lat), statsOf(flat)
	label := fmt.Sprintf("N=%d, sync %s", n, b.label)
	e.add(row{Figure: fmt.Sprintf("burst start p50 / p99 / max of those started (%s)", label), Value: js.String(), Floor: fs.String() + " (spawn N)",
		Ratio: "p99 " + ratio(js.p99, fs.p99), Target: "p99 ≤ 1.5× floor", Met: met(js.p99 <= fs.p99*3/2 && started == n), Load: load})
	e.add(row{Figure: fmt.Sprintf("burst placed / claimed p50 / p99 / max (%s)", label), Value: statsOf(created).String() + " ; " + statsOf(claimed).String(),
		Floor: "–", Ratio: "–", Target: "(scheduler's share)", Met: "–", Load: load})
	e.add(row{Figure: fmt.Sprintf("burst started / twice (%s)", label), Value: fmt.Sprintf("%d of %d / %d", started, n, doubled),
		Floor: fmt.Sprintf("%d of %d", len(flines), n), Ratio: "–", Target: "all / 0", Met: met(started == n && doubled == 0), Load: load})
	e.add(row{Figure: fmt.Sprintf("burst: ticker lock changes of holder, T-1 s until every run started (%s)", label), Value: fmt.Sprint(moves),
		Floor: "–", Ratio: "–", Target: "0 (no false failover)", Met: met(moves == 0), Load: load})
	if prof != nil {
		if err := <-prof; err == nil {
			fmt.Println(e.pprofTop(e.jetcron, profPath, 30))
		} else {
			e.logf("pprof: %v", err)
		}
	}
	// Remove the jobs (they never fire again, but keep the ticker's heap small).
	_ = b.purgeMany(ctx, keys)
	return nil
}

// putMany stores values under keys of the jobs bucket with asynchronous publishes,
// at most 500 in flight.
func (b *bc) putMany(ctx context.Context, keys []string, vals [][]byte) error {
	return b.publishMany(ctx, len(keys), func(i int) *nats.Msg {
		m := nats.NewMsg("$KV." + subjects.JobsBucket + "." + keys[i])
		m.Data = vals[i]
		return m
	})
}

// purgeMany purges keys of the jobs bucket (as kv.Purge does).
func (b *bc) purgeMany(ctx context.Context, keys []string) error {
	return b.publishMany(ctx, len(keys), func(i int) *nats.Msg {
		m := nats.NewMsg("$KV." + subjects.JobsBucket + "." + keys[i])
		m.Header.Set("KV-Operation", "PURGE")
		m.Header.Set("Nats-Rollup", "sub")
		return m
	})
}

// publishMany publishes n messages, 500 at a time, each batch again (a KV put is
// idempotent) when it is not acknowledged within 15 s, as while a stream elects a
// leader, up to 8 times.
func (b *bc) publishMany(ctx context.Context, n int, msg func(int) *nats.Msg) error {
	const batch, tries = 500, 8
	for lo := 0; lo < n; lo += batch {
		var err error
		for try := 1; try <= tries; try++ {
			if err = b.publishBatch(ctx, lo, min(lo+batch, n), msg); err == nil || ctx.Err() != nil {
				break
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// publishBatch publishes messages lo to hi asynchronously and waits for their acks.
func (b *bc) publishBatch(ctx context.Context, lo, hi int, msg func(int) *nats.Msg) error {
	var futs []jetstream.PubAckFuture
	for i := lo; i < hi; i++ {
		f, err := b.js.PublishMsgAsync(msg(i))
		if err != nil {
			return err
		}
		futs = append(futs, f)
	}
	select {
	case <-b.js.PublishAsyncComplete():
	case <-time.After(15 * time.Second):
		return fmt.Errorf("%d asynchronous publishes not acknowledged within 15 s", len(futs))
	case <-ctx.Done():
		return ctx.Err()
	}
	for _, f := range futs {
		select {
		case err := <-f.Err():
			return err
		default:
		}
	}
	return nil
}

// watchTerms watches the ticker lock from now on; the function it returns stops the
// watch and says how many times the lock changed term (holder, or a new win by the
// same one) meanwhile: each change is a failover, false while every server runs.
func (b *bc) watchTerms(ctx context.Context) func() int {
	wctx, cancel := context.WithCancel(ctx)
	w, err := b.lock.Watch(wctx, subjects.LockKey, jetstream.UpdatesOnly())
	if err != nil {
		cancel()
		return func() int { return -1 }
	}
	var mu sync.Mutex
	var term subjects.Lock
	changes := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ent := range w.Updates() {
			var l subjects.Lock
			if ent == nil || ent.Operation() != jetstream.KeyValuePut || json.Unmarshal(ent.Value(), &l) != nil {
				continue
			}
			mu.Lock()
			if term.Holder != "" && (l.Holder != term.Holder || !l.Since.Equal(term.Since)) {
				changes++
			}
			term = l
			mu.Unlock()
		}
	}()
	return func() int {
		cancel()
		_ = w.Stop()
		<-done
		mu.Lock()
		defer mu.Unlock()
		return changes
	}
}

// tickAlive reports whether the tick job still starts: its ledger grows within 3 s.
func (e *env) tickAlive(b *bc) bool {
	ledger := filepath.Join(b.dir, "tick.log")
	n := countLines(ledger)
	if n == 0 {
		return true // the tick job was not started (-figures without tick): nothing to tell
	}
	_ = sleepUntil(e.ctx, time.Now().Add(3*time.Second))
	return countLines(ledger) > n
}

// waitJobStates waits until the job state bucket holds n keys with prefix, or until.
func (b *bc) waitJobStates(ctx context.Context, prefix string, n int, until time.Time) (int, error) {
	st, err := b.js.Stream(ctx, "KV_"+subjects.JobStateBucket)
	if err != nil {
		return 0, err
	}
	got := 0
	for {
		// Counting keys lists them all (a million at the largest scale): only once the
		// bucket holds as many keys as wanted, whatever their prefix.
		info, err := st.Info(ctx)
		if err == nil && info.State.NumSubjects >= uint64(n) {
			info, err = st.Info(ctx, jetstream.WithSubjectFilter("$KV."+subjects.JobStateBucket+".>"))
		}
		if err == nil && info.State.Subjects != nil {
			got = 0
			for subj := range info.State.Subjects {
				if strings.HasPrefix(subj, "$KV."+subjects.JobStateBucket+"."+prefix+"-") {
					got++
				}
			}
		}
		if got >= n || time.Now().After(until) {
			return got, nil
		}
		if err := sleepUntil(ctx, time.Now().Add(250*time.Millisecond)); err != nil {
			return got, err
		}
	}
}

// burstRecords reads the run records of the burst: allocation created and started,
// relative to the tick.
func (b *bc) burstRecords(ctx context.Context, keys []string, tick int64) (created, claimed []time.Duration) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	at := time.Unix(tick, 0)
	for _, k := range keys {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			r, err := b.run(ctx, k, tick)
			if err != nil || len(r.Allocations) == 0 {
				return
			}
			a := r.Allocations[0]
			mu.Lock()
			defer mu.Unlock()
			created = append(created, a.Created.Sub(at))
			if a.Started != nil {
				claimed = append(claimed, a.Started.Sub(at))
			}
		}()
	}
	wg.Wait()
	return created, claimed
}
