package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/jetcron/jetcron/e2e/cluster"
	"github.com/jetcron/jetcron/subjects"
)

// historyFigure: n hourly jobs with days of run history (n × 24 × days ended run
// records, written straight into the runs bucket, as a week of runs leaves them) on a
// cluster syncing every 2m, next to the `@every 1s` job: the servers' RSS and disk, a
// server's restart → its ticker loaded, and the first launch of a new lock holder
// after a SIGKILL of the holder. The floors are the same, measured before the history
// was written.
func (e *env) historyFigure(n, days int) error {
	b, err := e.startTicking("history", "2m")
	if err != nil {
		return err
	}
	defer b.close()
	now := time.Now().UTC()
	jobs := newHourlyJobs("hist", n, now)
	if err := b.putMany(e.ctx, jobs.keys, jobs.specs(e, os.DevNull)); err != nil {
		return err
	}
	if got, err := b.waitJobStates(e.ctx, "hist", n, time.Now().Add(4*time.Minute)); err != nil || got < n {
		return fmt.Errorf("the ticker wrote %d of %d job states within 4 min (%v)", got, n, err)
	}
	rss0 := serversRSS(b)
	load0, err := e.restartToLoaded(b)
	if err != nil {
		return fmt.Errorf("floor restart: %w", err)
	}
	records := n * 24 * days
	e.logf("history: writing %d run records (%d jobs × %d days × 24)", records, n, days)
	t0 := time.Now()
	hour := now.Truncate(time.Hour)
	err = b.publishMany(e.ctx, records, func(i int) *nats.Msg {
		job, h := i%n, i/n
		if job == 0 && h%24 == 0 {
			e.logf("history: day %d of %d written after %s", h/24, days, ms(time.Since(t0)))
		}
		tick := hour.Add(-time.Duration(h+1)*time.Hour + time.Duration(jobs.mins[job])*time.Minute + time.Duration(jobs.sec[job])*time.Second)
		msg := nats.NewMsg(subjects.KVSubject(subjects.RunStateBucket, subjects.RunKey(jobs.keys[job], tick)))
		msg.Data = endedRun(jobs.keys[job], tick)
		return msg
	})
	if err != nil {
		return fmt.Errorf("write the history: %w", err)
	}
	wrote := time.Since(t0)
	if err := e.waitCheckpoint(b, 2*time.Minute); err != nil {
		e.notes = append(e.notes, "history: "+err.Error())
	}
	_ = sleepUntil(e.ctx, time.Now().Add(5*time.Second))
	rss1 := serversRSS(b)
	loaded, err := e.restartToLoaded(b)
	if err != nil {
		return err
	}
	var disk []string
	for _, p := range b.c.Servers() {
		disk = append(disk, duMB(p.Dir))
	}
	holder, err := b.holder(e.ctx)
	if err != nil {
		return err
	}
	ready, readyOK, err := e.holderKillToLaunch(b, holder)
	if err != nil {
		return err
	}
	what := fmt.Sprintf("%d hourly jobs + %d days of history (%d records, written in %s)", n, days, records, ms(wrote))
	load := loadavg()
	e.add(row{Figure: "history: server RSS, " + what, Value: rss1.list + " MB", Floor: rss0.list + " MB (no history)",
		Ratio: fmt.Sprintf("%.2f", float64(rss1.max)/float64(max(rss0.max, 1))), Target: "≤ 500 MB", Met: met(rss1.max <= 500*1024), Load: load})
	e.add(row{Figure: "history: disk per server, " + what, Value: strings.Join(disk, ", ") + " MB", Floor: "–", Ratio: "–", Target: "–", Met: "–", Load: load})
	e.add(row{Figure: "history: server restart → its ticker loaded, " + what, Value: ms(loaded), Floor: ms(load0) + " (no history)",
		Ratio: fmt.Sprintf("%.2f", loaded.Seconds()/load0.Seconds()), Target: "≤ 5 s", Met: met(loaded <= 5*time.Second), Load: load})
	e.add(row{Figure: "history: new lock holder, lock won → first launch, " + what, Value: ready, Floor: "–", Ratio: "–",
		Target: "≤ 5 s", Met: met(readyOK), Load: loadavg()})
	return nil
}

// endedRun is the record of a run of job at tick that completed on bench-1.
func endedRun(job string, tick time.Time) []byte {
	start, end, code := tick.Add(40*time.Millisecond).UTC(), tick.Add(1200*time.Millisecond).UTC(), 0
	r := subjects.Run{
		ID: subjects.RunID(job, tick), Job: job, Scheduled: tick.Unix(), State: subjects.StateComplete, Late: 40,
		Allocations: []subjects.Allocation{{
			ID: "0123abcd", Node: "bench-1", NodeID: "bench-1-id", State: subjects.StateComplete,
			Created: tick.UTC(), Started: &start, Finished: &end, ExitCode: &code,
		}},
	}
	data, _ := json.Marshal(r)
	return data
}

// rssList is the servers' RSS as "a, b, c" (MB) and the largest (KiB).
type rssList struct {
	list string
	max  int
}

func serversRSS(b *bc) rssList {
	var out rssList
	var parts []string
	for _, p := range b.c.Servers() {
		kb := rssKB(p.PID())
		out.max = max(out.max, kb)
		parts = append(parts, fmt.Sprintf("%.0f", float64(kb)/1024))
	}
	out.list = strings.Join(parts, ", ")
	return out
}

// restartToLoaded SIGKILLs a server that does not hold the lock, starts it again, and
// measures the time from its start to its ticker's "ticker loaded" log line.
func (e *env) restartToLoaded(b *bc) (time.Duration, error) {
	holder, err := b.holder(e.ctx)
	if err != nil {
		return 0, err
	}
	var p *cluster.Proc
	for _, s := range b.c.Servers() {
		if s != holder {
			p = s
			break
		}
	}
	before := countMatches(p.Log, `"ticker loaded"`)
	if err := p.Kill(); err != nil {
		return 0, err
	}
	t0 := time.Now()
	if err := p.Start(); err != nil {
		return 0, err
	}
	for countMatches(p.Log, `"ticker loaded"`) <= before {
		if time.Since(t0) > 3*time.Minute {
			return 0, fmt.Errorf("%s's ticker not loaded 3 min after its restart (log %s)", p.Name, p.Log)
		}
		if err := sleepUntil(e.ctx, time.Now().Add(50*time.Millisecond)); err != nil {
			return 0, err
		}
	}
	took := time.Since(t0)
	e.logf("history: %s restarted → ticker loaded in %s", p.Name, ms(took))
	return took, b.c.WaitReady(e.ctx, time.Minute)
}

// waitCheckpoint waits until the runs checkpoint covers every run record written.
func (e *env) waitCheckpoint(b *bc, within time.Duration) error {
	ctx, cancel := context.WithTimeout(e.ctx, within)
	defer cancel()
	st, err := b.js.Stream(ctx, subjects.KVStream(subjects.RunStateBucket))
	if err != nil {
		return err
	}
	last := st.CachedInfo().State.LastSeq
	states, err := b.js.KeyValue(ctx, subjects.JobStateBucket)
	if err != nil {
		return err
	}
	for {
		var cp subjects.RunsCheckpoint
		if ent, err := states.Get(ctx, subjects.CheckpointKey); err == nil && json.Unmarshal(ent.Value(), &cp) == nil && cp.RunsRev >= last {
			return nil
		} else if ctx.Err() != nil {
			return fmt.Errorf("the runs checkpoint is at revision %d, not yet at %d, %s after the history was written", cp.RunsRev, last, within)
		}
		_ = sleepUntil(ctx, time.Now().Add(250*time.Millisecond))
	}
}

// countMatches counts the lines of the file that contain s.
func countMatches(path, s string) int {
	data, _ := os.ReadFile(path)
	return strings.Count(string(data), s)
}

// duMB is the disk a folder takes, in MB, as du measures it.
func duMB(dir string) string {
	out, err := exec.Command("du", "-sm", dir).Output()
	if err != nil {
		return "?"
	}
	return strings.Fields(string(out))[0]
}
