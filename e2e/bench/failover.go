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

// lockTTL is the servers' server.lock_ttl (cluster.Options' default).
const lockTTL = configs.DefaultLockTTL

// failover: SIGKILL the lock holder e.kills times, restarting it a few seconds later;
// kill → next launch of the `@every 1s` tick job (the stamp program's start), late,
// missed and doubled ticks. Floor: the takeover of a KV lock with the same TTL on the
// same cluster, whose holder stops renewing at a random phase.
func (e *env) failover(b *bc) error {
	floor, err := e.lockFloor(b)
	if err != nil {
		return fmt.Errorf("lock floor: %w", err)
	}
	ledger := filepath.Join(b.dir, "tick.log")
	var gaps, restarts, locks []time.Duration
	winStart := time.Now()
	for i := range e.kills {
		if err := b.c.WaitReady(e.ctx, 60*time.Second); err != nil {
			return err
		}
		// A restarted server is alive long before its Raft groups caught up: killing
		// another server then is a double failure (no quorum). Wait until every
		// replica of jetcron's streams and the runners' consumers is current.
		if err := b.waitCurrent(e.ctx, 60*time.Second); err != nil {
			return err
		}
		_ = sleepUntil(e.ctx, time.Now().Add(3*time.Second+rand.N(time.Second)))
		p, err := b.holder(e.ctx)
		if err != nil {
			return err
		}
		led := b.leaderships(e.ctx, p.Name)
		k := time.Now()
		if err := p.Kill(); err != nil {
			return err
		}
		lockMoved := make(chan time.Duration, 1)
		go func() {
			for time.Since(k) < 30*time.Second {
				if q, err := b.holder(e.ctx); err == nil && q != p {
					lockMoved <- time.Since(k)
					return
				}
				_ = sleepUntil(e.ctx, time.Now().Add(50*time.Millisecond))
			}
			lockMoved <- -1
		}()
		var next time.Duration
		for {
			lines, _ := readLedger(ledger)
			first := int64(0)
			for _, l := range lines {
				// A launch made after the kill: of a tick due after it, or started well
				// after it (a launch the killed holder made just before dying starts
				// within tens of ms; tick → start max is ~60 ms here).
				after := l.sched*1e9 >= k.UnixNano() || l.start-k.UnixNano() > int64(200*time.Millisecond)
				if after && l.start > k.UnixNano() && (first == 0 || l.start < first) {
					first = l.start
				}
			}
			if first > 0 {
				next = time.Duration(first - k.UnixNano())
				break
			}
			if time.Since(k) > 30*time.Second {
				return fmt.Errorf("kill %d: no launch within 30 s of killing %s", i+1, p.Name)
			}
			if err := sleepUntil(e.ctx, time.Now().Add(50*time.Millisecond)); err != nil {
				return err
			}
		}
		gaps = append(gaps, next)
		_ = sleepUntil(e.ctx, k.Add(4*time.Second))
		lm := <-lockMoved
		locks = append(locks, lm)
		detail := fmt.Sprintf("kill %d at %s: %s → next launch %s, lock taken by another server after %s; it led: %s", i+1, k.Format("15:04:05.000"), p.Name, ms(next), ms(lm), led)
		e.kills_ = append(e.kills_, detail)
		r0 := time.Now()
		if err := p.Start(); err != nil {
			return err
		}
		if err := b.c.WaitReady(e.ctx, 60*time.Second); err != nil {
			return err
		}
		restarts = append(restarts, time.Since(r0))
		e.logf("failover %d/%d: %s; restarted → alive in %s", i+1, e.kills, detail, ms(time.Since(r0)))
	}
	_ = sleepUntil(e.ctx, time.Now().Add(3*time.Second))
	winEnd := time.Now().Add(-2 * time.Second)
	load := loadavg()
	lines, err := readLedger(ledger)
	if err != nil {
		return err
	}
	per := map[int64]int{}
	late := 0
	for _, l := range lines {
		if l.sched < winStart.Unix() || l.sched > winEnd.Unix() {
			continue
		}
		per[l.sched]++
		if per[l.sched] == 1 && time.Duration(l.start-l.sched*1e9) > time.Second {
			late++
		}
	}
	missed, doubled := 0, 0
	for s := winStart.Unix(); s <= winEnd.Unix(); s++ {
		switch {
		case per[s] == 0:
			missed++
		case per[s] > 1:
			doubled++
		}
	}
	sort.Slice(gaps, func(i, j int) bool { return gaps[i] < gaps[j] })
	med, worst := gaps[len(gaps)/2], gaps[len(gaps)-1]
	fs := statsOf(floor)
	e.add(row{Figure: fmt.Sprintf("failover: kill → next launch, median / worst (%d SIGKILLs of the lock holder, lock_ttl %s)", len(gaps), lockTTL),
		Value: ms(med) + " / " + ms(worst), Floor: fmt.Sprintf("%s / %s (KV lock takeover, %d)", ms(fs.p50), ms(fs.max), fs.n),
		Ratio: "median " + ratio(med, fs.p50) + ", worst " + ratio(worst, fs.max), Target: "median ≤ 2 s, worst ≤ 3 s",
		Met: met(med <= 2*time.Second && worst <= 3*time.Second), Load: load})
	e.add(row{Figure: "failover: late (> 1 s) / missed / doubled ticks", Value: fmt.Sprintf("%d / %d / %d (of %d ticks)", late, missed, doubled, winEnd.Unix()-winStart.Unix()+1),
		Floor: "–", Ratio: "–", Target: "– / 0 / 0", Met: met(missed == 0 && doubled == 0), Load: load})
	ls := statsOf(locks)
	e.add(row{Figure: "failover: kill → lock held by another server, median / worst", Value: ms(ls.p50) + " / " + ms(ls.max), Floor: fmt.Sprintf("%s / %s", ms(fs.p50), ms(fs.max)),
		Ratio: "median " + ratio(ls.p50, fs.p50) + ", worst " + ratio(ls.max, fs.max), Target: "–", Met: "–", Load: load})
	rs := statsOf(restarts)
	e.add(row{Figure: "footprint: killed server restart → alive (median / max)", Value: ms(rs.p50) + " / " + ms(rs.max), Floor: "–", Ratio: "–", Target: "–", Met: "–", Load: load})
	return nil
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
