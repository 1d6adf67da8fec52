package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetcron/jetcron/configs"
	"github.com/jetcron/jetcron/subjects"
)

// lockTTL is the servers' server.lock_ttl: the product's default unless -lock-ttl
// sets it.
var lockTTL = configs.DefaultLockTTL

// failover: SIGKILL the lock holder e.kills times, then SIGTERM it (a clean stop, which
// releases the lock) e.stops times, restarting it after each; stop → next launch of
// the `@every 1s` tick job (the stamp program's start), late, missed and doubled
// ticks; then the holder under CPU load (falseFailovers). Floor: the takeover of a KV
// lock with the same TTL on the same cluster, whose holder stops renewing at a random
// phase.
func (e *env) failover(b *bc) error {
	floor, err := e.lockFloor(b)
	if err != nil {
		return fmt.Errorf("lock floor: %w", err)
	}
	ledger := filepath.Join(b.dir, "tick.log")
	var gaps, locks, stopLates, stopLocks, restarts []time.Duration
	winStart := time.Now()
	for i := range e.kills + e.stops {
		clean := i >= e.kills
		h, err := e.handover(b, ledger, clean)
		if err != nil {
			return fmt.Errorf("%s %d: %w", h.what, i+1, err)
		}
		if clean {
			stopLates, stopLocks = append(stopLates, h.late), append(stopLocks, h.lock)
		} else {
			gaps, locks, restarts = append(gaps, h.next), append(locks, h.lock), append(restarts, h.restart)
		}
		e.logf("failover %d/%d: %s; restarted → alive in %s", i+1, e.kills+e.stops, h.detail, ms(h.restart))
	}
	_ = sleepUntil(e.ctx, time.Now().Add(3*time.Second))
	winEnd := time.Now().Add(-2 * time.Second)
	load := loadavg()
	late, missed, doubled, n, err := tickCounts(ledger, winStart, winEnd)
	if err != nil {
		return err
	}
	fs := statsOf(floor)
	if len(gaps) > 0 {
		sort.Slice(gaps, func(i, j int) bool { return gaps[i] < gaps[j] })
		med, worst := gaps[len(gaps)/2], gaps[len(gaps)-1]
		e.add(row{Figure: fmt.Sprintf("failover: kill → next launch, median / worst (%d SIGKILLs of the lock holder, lock_ttl %s)", len(gaps), lockTTL),
			Value: ms(med) + " / " + ms(worst), Floor: fmt.Sprintf("%s / %s (KV lock takeover, %d)", ms(fs.p50), ms(fs.max), fs.n),
			Ratio: "median " + ratio(med, fs.p50) + ", worst " + ratio(worst, fs.max), Target: "median ≤ 1 s, worst ≤ 2 s",
			Met: met(med <= time.Second && worst <= 2*time.Second), Load: load})
		ls := statsOf(locks)
		e.add(row{Figure: "failover: kill → lock held by another server, median / worst", Value: ms(ls.p50) + " / " + ms(ls.max), Floor: fmt.Sprintf("%s / %s", ms(fs.p50), ms(fs.max)),
			Ratio: "median " + ratio(ls.p50, fs.p50) + ", worst " + ratio(ls.max, fs.max), Target: "–", Met: "–", Load: load})
	}
	if len(stopLates) > 0 {
		sl, st := statsOf(stopLocks), statsOf(stopLates)
		e.add(row{Figure: fmt.Sprintf("failover: clean stop (SIGTERM) → lock held by another server, median / worst (%d SIGTERMs of the lock holder)", len(stopLocks)),
			Value: ms(sl.p50) + " / " + ms(sl.max), Floor: fmt.Sprintf("%s / %s (KV lock takeover after a kill)", ms(fs.p50), ms(fs.max)), Ratio: "–", Target: "–", Met: "–", Load: load})
		e.add(row{Figure: "failover: clean stop, latest tick → start from 1 s before to 3 s after it, median / worst", Value: ms(st.p50) + " / " + ms(st.max),
			Floor: "–", Ratio: "–", Target: "≤ 1 s (no tick late)", Met: met(st.max <= time.Second), Load: load})
	}
	e.add(row{Figure: "failover: late (> 1 s) / missed / doubled ticks", Value: fmt.Sprintf("%d / %d / %d (of %d ticks)", late, missed, doubled, n),
		Floor: "–", Ratio: "–", Target: "– / 0 / 0", Met: met(missed == 0 && doubled == 0), Load: load})
	if len(restarts) > 0 {
		rs := statsOf(restarts)
		e.add(row{Figure: "footprint: killed server restart → alive (median / max)", Value: ms(rs.p50) + " / " + ms(rs.max), Floor: "–", Ratio: "–", Target: "–", Met: "–", Load: load})
	}
	if e.loadFor > 0 {
		return e.falseFailovers(b, ledger)
	}
	return nil
}

// handoverResult is one stop of the lock holder.
type handoverResult struct {
	what       string        // "kill" or "clean stop"
	next, lock time.Duration // stop → next launch; stop → lock held by another server
	// late is the latest tick → start of the ticks due from 1 s before the stop to
	// 3 s after it: with a clean stop, no tick need be missed, so the next launch is
	// that of the next tick due, and how late the ticks around the stop ran is what
	// the handover cost.
	late    time.Duration
	restart time.Duration // restart → alive
	detail  string
}

// handover stops the lock holder once the cluster is settled, with SIGKILL, or with
// SIGTERM when clean, and measures stop → the next launch and stop → the lock held by
// another server; then it starts the holder again (4 s after a kill) and waits until
// the cluster is ready.
func (e *env) handover(b *bc, ledger string, clean bool) (handoverResult, error) {
	h := handoverResult{what: "kill"}
	if clean {
		h.what = "clean stop"
	}
	if err := b.c.WaitReady(e.ctx, 60*time.Second); err != nil {
		return h, err
	}
	// A restarted server is alive long before its Raft groups caught up: stopping
	// another server then is a double failure (no quorum). Wait until every replica
	// of jetcron's streams and the runners' consumers is current.
	if err := b.waitCurrent(e.ctx, 60*time.Second); err != nil {
		return h, err
	}
	_ = sleepUntil(e.ctx, time.Now().Add(3*time.Second+rand.N(time.Second)))
	p, err := b.holder(e.ctx)
	if err != nil {
		return h, err
	}
	led := b.leaderships(e.ctx, p.Name)
	k := time.Now()
	exited := make(chan error, 1)
	if clean {
		go func() { exited <- p.Term(30 * time.Second) }()
	} else {
		exited <- p.Kill()
	}
	lockMoved := make(chan time.Duration, 1)
	go func() {
		for time.Since(k) < 30*time.Second {
			// Short tries: a read sent to the server just killed gets no answer.
			ctx, cancel := context.WithTimeout(e.ctx, 200*time.Millisecond)
			q, err := b.holder(ctx)
			cancel()
			if err == nil && q != p {
				lockMoved <- time.Since(k)
				return
			}
			_ = sleepUntil(e.ctx, time.Now().Add(20*time.Millisecond))
		}
		lockMoved <- -1
	}()
	for {
		lines, _ := readLedger(ledger)
		first := int64(0)
		for _, l := range lines {
			// A launch made after the stop: of a tick due after it, or started well
			// after it (a launch the holder made just before it stopped starts within
			// tens of ms; tick → start max is ~60 ms here).
			after := l.sched*1e9 >= k.UnixNano() || l.start-k.UnixNano() > int64(200*time.Millisecond)
			if after && l.start > k.UnixNano() && (first == 0 || l.start < first) {
				first = l.start
			}
		}
		if first > 0 {
			h.next = time.Duration(first - k.UnixNano())
			break
		}
		if time.Since(k) > 30*time.Second {
			return h, fmt.Errorf("no launch within 30 s of stopping %s", p.Name)
		}
		if err := sleepUntil(e.ctx, time.Now().Add(20*time.Millisecond)); err != nil {
			return h, err
		}
	}
	if err := <-exited; err != nil {
		return h, err
	}
	_ = sleepUntil(e.ctx, k.Add(4*time.Second))
	h.lock = <-lockMoved
	lines, _ := readLedger(ledger)
	for _, l := range lines {
		if l.sched >= k.Unix()-1 && l.sched <= k.Unix()+3 {
			h.late = max(h.late, time.Duration(l.start-l.sched*1e9))
		}
	}
	h.detail = fmt.Sprintf("%s at %s: %s → next launch %s, lock taken by another server after %s, latest tick → start around it %s; it led: %s",
		h.what, k.Format("15:04:05.000"), p.Name, ms(h.next), ms(h.lock), ms(h.late), led)
	e.kills_ = append(e.kills_, h.detail)
	r0 := time.Now()
	if err := p.Start(); err != nil {
		return h, err
	}
	if err := b.c.WaitReady(e.ctx, 60*time.Second); err != nil {
		return h, err
	}
	h.restart = time.Since(r0)
	return h, nil
}

// tickCounts reads the tick job's ledger: of the ticks due in [from, to], those late
// (started > 1 s after they were due), missed and doubled, and how many were due.
func tickCounts(ledger string, from, to time.Time) (late, missed, doubled int, n int64, err error) {
	lines, err := readLedger(ledger)
	if err != nil {
		return 0, 0, 0, 0, err
	}
	per := map[int64]int{}
	for _, l := range lines {
		if l.sched < from.Unix() || l.sched > to.Unix() {
			continue
		}
		per[l.sched]++
		if per[l.sched] == 1 && time.Duration(l.start-l.sched*1e9) > time.Second {
			late++
		}
	}
	for s := from.Unix(); s <= to.Unix(); s++ {
		switch {
		case per[s] == 0:
			missed++
		case per[s] > 1:
			doubled++
		}
	}
	return late, missed, doubled, to.Unix() - from.Unix() + 1, nil
}

// lockFloor measures the takeover of a TTL lock on the same cluster: a holder creates
// the key and renews it every TTL/4 (revision-checked update), stops at a random
// phase (as a SIGKILL would), and a contender tries Create every 50 ms; the floor is
// stop → contender's Create succeeds.
func (e *env) lockFloor(b *bc) ([]time.Duration, error) {
	ctx := e.ctx
	name := "benchlock"
	_ = b.js.DeleteKeyValue(ctx, name)
	kv, err := b.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: name, TTL: lockTTL, Storage: jetstream.FileStorage, Replicas: 3})
	if err != nil {
		return nil, err
	}
	defer b.js.DeleteKeyValue(ctx, name)
	e.logf("failover floor: %d takeovers of a KV lock with TTL %s", e.lockFloors, lockTTL)
	var out []time.Duration
	for range e.lockFloors {
		rev, err := kv.Create(ctx, "l", []byte("holder"))
		for err != nil {
			if !errors.Is(err, jetstream.ErrKeyExists) {
				return nil, err
			}
			_ = sleepUntil(ctx, time.Now().Add(50*time.Millisecond))
			rev, err = kv.Create(ctx, "l", []byte("holder"))
		}
		stopAt := time.Now().Add(time.Second + rand.N(time.Second))
		for time.Now().Before(stopAt) {
			_ = sleepUntil(ctx, time.Now().Add(min(lockTTL/4, time.Until(stopAt))))
			if time.Now().Before(stopAt) {
				if rev, err = kv.Update(ctx, "l", []byte("holder"), rev); err != nil {
					return nil, err
				}
			}
		}
		stop := time.Now()
		for {
			cctx, cancel := context.WithTimeout(ctx, time.Second)
			_, err := kv.Create(cctx, "l", []byte("contender"))
			cancel()
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			_ = sleepUntil(ctx, time.Now().Add(50*time.Millisecond))
		}
		out = append(out, time.Since(stop))
		if err := kv.Delete(ctx, "l"); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// leaderships lists the Raft groups the server name leads: the JetStream meta group,
// jetcron's streams and buckets, and the runners' durable consumers.
func (b *bc) leaderships(ctx context.Context, name string) string {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	var out []string
	if ms, err := b.c.Members(ctx); err == nil {
		for _, m := range ms {
			if m.Name == name && m.MetaLeader == name {
				out = append(out, "meta")
				break
			}
		}
	}
	streams := []string{subjects.RunsStream}
	for _, kv := range []string{subjects.JobsBucket, subjects.NodesBucket, subjects.ServersBucket, subjects.RunStateBucket,
		subjects.JobStateBucket, subjects.LockBucket, subjects.LogsBucket} {
		streams = append(streams, "KV_"+kv)
	}
	for _, sn := range streams {
		st, err := b.js.Stream(ctx, sn)
		if err != nil {
			out = append(out, sn+"?")
			continue
		}
		if ci := st.CachedInfo().Cluster; ci != nil && ci.Leader == name {
			out = append(out, sn)
		}
	}
	for _, h := range hosts {
		c, err := b.js.Consumer(ctx, subjects.RunsStream, subjects.DurableName(h))
		if err != nil {
			continue
		}
		if ci := c.CachedInfo().Cluster; ci != nil && ci.Leader == name {
			out = append(out, "consumer "+subjects.DurableName(h))
		}
	}
	if len(out) == 0 {
		return "nothing"
	}
	return strings.Join(out, ", ")
}

// jetcronStreams are the streams behind jetcron's buckets, and the runs stream.
func jetcronStreams() []string {
	streams := []string{subjects.RunsStream}
	for _, kv := range []string{subjects.JobsBucket, subjects.NodesBucket, subjects.ServersBucket, subjects.RunStateBucket,
		subjects.JobStateBucket, subjects.LockBucket, subjects.LogsBucket} {
		streams = append(streams, "KV_"+kv)
	}
	return streams
}

// waitCurrent waits until every replica of jetcron's streams and of the runners'
// consumers is current and seen within the last 2 s.
func (b *bc) waitCurrent(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	ok := func(ci *jetstream.ClusterInfo) bool {
		if ci == nil || ci.Leader == "" || len(ci.Replicas) < 2 {
			return false
		}
		for _, r := range ci.Replicas {
			if !r.Current || r.Offline || r.Active > 2*time.Second {
				return false
			}
		}
		return true
	}
	for {
		lagging := ""
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		for _, sn := range jetcronStreams() {
			st, err := b.js.Stream(cctx, sn)
			if err != nil || !ok(st.CachedInfo().Cluster) {
				lagging = sn
				break
			}
		}
		if lagging == "" {
			for _, h := range hosts {
				c, err := b.js.Consumer(cctx, subjects.RunsStream, subjects.DurableName(h))
				if err != nil || !ok(c.CachedInfo().Cluster) {
					lagging = "consumer " + subjects.DurableName(h)
					break
				}
			}
		}
		cancel()
		if lagging == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s has a replica not current after %s", lagging, timeout)
		}
		if err := sleepUntil(ctx, time.Now().Add(250*time.Millisecond)); err != nil {
			return err
		}
	}
}
