package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetcron/jetcron/subjects"
)

// footprint: idle RSS of every server and runner agent, the binary's size, and the
// time from starting a fresh cluster to ready.
func (e *env) footprint(b *bc) {
	e.logf("footprint: idle for 5 s")
	_ = sleepUntil(e.ctx, time.Now().Add(5*time.Second))
	var srv, host []string
	maxSrv, maxHost := 0, 0
	for _, p := range b.c.Servers() {
		kb := rssKB(p.PID())
		srv = append(srv, fmt.Sprintf("%.0f", float64(kb)/1024))
		maxSrv = max(maxSrv, kb)
	}
	for _, p := range b.c.Hosts() {
		kb := rssKB(p.PID())
		host = append(host, fmt.Sprintf("%.0f", float64(kb)/1024))
		maxHost = max(maxHost, kb)
	}
	fi, _ := os.Stat(e.jetcron)
	e.add(row{Figure: "footprint: idle server RSS (3 servers)", Value: strings.Join(srv, ", ") + " MB", Floor: "–", Ratio: "–", Target: "≤ 300 MB (at 100k jobs)", Met: "– (idle)"})
	e.add(row{Figure: "footprint: idle runner RSS (3 hosts)", Value: strings.Join(host, ", ") + " MB", Floor: "–", Ratio: "–", Target: "–", Met: "–"})
	e.add(row{Figure: "footprint: binary size", Value: fmt.Sprintf("%.1f MB", float64(fi.Size())/(1<<20)), Floor: "–", Ratio: "–", Target: "–", Met: "–"})
	e.add(row{Figure: "footprint: fresh cluster start → ready (3 servers + 3 hosts, ticker leader)", Value: ms(b.ready), Floor: "–", Ratio: "–", Target: "–", Met: "–"})
}

// floorTick is the floor of tick → start: a publisher publishes a message at each
// half second (between jetcron's ticks) to an R3 stream; a pull consumer's callback
// creates an R3 KV key and spawns the stamp program, then acks. It runs on the same
// cluster as jetcron, at the same time.
type floorTick struct {
	ledger string
	errs   atomic.Int64
	cc     jetstream.ConsumeContext
	stop   context.CancelFunc
	wg     sync.WaitGroup
}

func (e *env) startFloorTick(b *bc, first time.Time, ticks int, ledger string) (*floorTick, error) {
	ctx := e.ctx
	name := "benchfloor"
	_ = b.js.DeleteStream(ctx, name)
	_ = b.js.DeleteKeyValue(ctx, name)
	st, err := b.js.CreateStream(ctx, jetstream.StreamConfig{
		Name: name, Subjects: []string{name + ".>"}, Storage: jetstream.FileStorage, Replicas: 3,
	})
	if err != nil {
		return nil, err
	}
	kv, err := b.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: name, Storage: jetstream.FileStorage, Replicas: 3})
	if err != nil {
		return nil, err
	}
	cons, err := st.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "floor", AckPolicy: jetstream.AckExplicitPolicy, FilterSubject: name + ".launch"})
	if err != nil {
		return nil, err
	}
	f := &floorTick{ledger: ledger}
	f.cc, err = cons.Consume(func(msg jetstream.Msg) {
		tick := string(msg.Data())
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := kv.Create(cctx, "t"+tick, []byte("x"))
		cancel()
		if err != nil {
			f.errs.Add(1)
			_ = msg.Ack()
			return
		}
		cmd := exec.Command(e.stamp, ledger)
		cmd.Env = []string{"JETCRON_RUN_ID=floor/" + tick, "JETCRON_SCHEDULED=" + tick}
		if err := cmd.Start(); err != nil {
			f.errs.Add(1)
		} else {
			go cmd.Wait()
		}
		_ = msg.Ack()
	})
	if err != nil {
		return nil, err
	}
	pctx, stop := context.WithCancel(ctx)
	f.stop = stop
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for i := range ticks {
			at := first.Add(time.Duration(i)*time.Second + 500*time.Millisecond)
			if sleepUntil(pctx, at) != nil {
				return
			}
			pubCtx, cancel := context.WithTimeout(pctx, 2*time.Second)
			if _, err := b.js.Publish(pubCtx, name+".launch", []byte(strconv.FormatInt(at.UnixNano(), 10))); err != nil {
				f.errs.Add(1)
			}
			cancel()
		}
	}()
	return f, nil
}

func (f *floorTick) close(e *env, b *bc) {
	f.stop()
	f.wg.Wait()
	f.cc.Stop()
	_ = b.js.DeleteStream(e.ctx, "benchfloor")
	_ = b.js.DeleteKeyValue(e.ctx, "benchfloor")
}

// tickFigure: the job "tick" (`@every 1s`, the stamp program) for ticks seconds next
// to the floor loop. The job keeps running afterwards (failover measures on it).
func (e *env) tickFigure(b *bc, ticks int, report bool) error {
	ledger := filepath.Join(b.dir, "tick.log")
	floorLedger := filepath.Join(b.dir, "tick-floor.log")
	if _, err := b.jobs.Put(e.ctx, "tick", []byte(e.jobYAML("@every 1s", ledger))); err != nil {
		return err
	}
	e.logf("tick → start [%s]: job tick stored, waiting for its first run", b.label)
	deadline := time.Now().Add(30 * time.Second)
	for countLines(ledger) == 0 {
		if time.Now().After(deadline) {
			return errors.New("the tick job did not run within 30 s")
		}
		if err := sleepUntil(e.ctx, time.Now().Add(100*time.Millisecond)); err != nil {
			return err
		}
	}
	if !report {
		return nil
	}
	first := time.Now().Truncate(time.Second).Add(2 * time.Second)
	f, err := e.startFloorTick(b, first, ticks, floorLedger)
	if err != nil {
		return fmt.Errorf("floor: %w", err)
	}
	e.logf("tick → start [%s]: measuring %d ticks from %s (floor at each half second)", b.label, ticks, first.Format("15:04:05"))
	var prof <-chan error
	profPath := filepath.Join(b.dir, "tick-leader.pprof")
	if e.profile {
		if p, err := b.holder(e.ctx); err == nil {
			prof = cpuProfile(p, time.Duration(min(ticks, 60))*time.Second, profPath)
		}
	}
	end := first.Add(time.Duration(ticks) * time.Second)
	if err := sleepUntil(e.ctx, end.Add(3*time.Second)); err != nil {
		return err
	}
	f.close(e, b)
	load := loadavg()
	lines, err := readLedger(ledger)
	if err != nil {
		return err
	}
	per := map[int64]int{}
	var lat []time.Duration
	for _, l := range lines {
		if l.sched < first.Unix() || l.sched >= end.Unix() {
			continue
		}
		per[l.sched]++
		if per[l.sched] == 1 {
			lat = append(lat, time.Duration(l.start-l.sched*1e9))
		}
	}
	missed, doubled := 0, 0
	for s := first.Unix(); s < end.Unix(); s++ {
		switch {
		case per[s] == 0:
			missed++
		case per[s] > 1:
			doubled++
		}
	}
	flines, err := readLedger(floorLedger)
	if err != nil {
		return err
	}
	var flat []time.Duration
	for _, l := range flines {
		flat = append(flat, time.Duration(l.start-l.sched))
	}
	// The scheduler's share: placement (allocation created) and claim (started) from
	// the run records.
	var created, claimed []time.Duration
	for s := first.Unix(); s < end.Unix(); s++ {
		r, err := b.run(e.ctx, "tick", s)
		if err != nil || len(r.Allocations) == 0 {
			continue
		}
		a := r.Allocations[0]
		created = append(created, a.Created.Sub(time.Unix(s, 0)))
		if a.Started != nil {
			claimed = append(claimed, a.Started.Sub(time.Unix(s, 0)))
		}
	}
	js, fs := statsOf(lat), statsOf(flat)
	label := "sync " + b.label
	e.add(row{Figure: fmt.Sprintf("tick → start p50 / p99 / max (%d ticks, %s)", js.n, label), Value: js.String(),
		Floor: fs.String() + fmt.Sprintf(" (%d)", fs.n), Ratio: "p99 " + ratio(js.p99, fs.p99) + ", p50 " + ratio(js.p50, fs.p50),
		Target: "p99 ≤ 2× floor and < 10 ms", Met: met(js.p99 <= 2*fs.p99 && js.p99 < 10*time.Millisecond), Load: load})
	e.add(row{Figure: fmt.Sprintf("tick → placed / claimed p50 / p99 / max (%s)", label),
		Value: statsOf(created).String() + " ; " + statsOf(claimed).String(), Floor: "–", Ratio: "–", Target: "(scheduler's share)", Met: "–", Load: load})
	e.add(row{Figure: fmt.Sprintf("tick: missed / doubled (%s)", label), Value: fmt.Sprintf("%d / %d", missed, doubled),
		Floor: fmt.Sprintf("floor errors %d", f.errs.Load()), Ratio: "–", Target: "0 / 0", Met: met(missed == 0 && doubled == 0), Load: load})
	if prof != nil {
		if err := <-prof; err == nil {
			fmt.Println(e.pprofTop(e.jetcron, profPath, 25))
		} else {
			e.logf("pprof: %v", err)
		}
	}
	return nil
}

// run reads the run record of job's tick at unix second s.
func (b *bc) run(ctx context.Context, job string, s int64) (*subjects.Run, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	ent, err := b.runs.Get(ctx, subjects.RunKey(job, time.Unix(s, 0)))
	if err != nil {
		return nil, err
	}
	var r subjects.Run
	if err := json.Unmarshal(ent.Value(), &r); err != nil {
		return nil, err
	}
	return &r, nil
}
