package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jetcron/jetcron/e2e/cluster"
)

// scaleTargets are the scale figure's targets for n jobs: 300 MB and 5% of a core up
// to 100,000 jobs, 2 GB and one core at a million (the targets of the speed issue).
func scaleTargets(n int) (rssMB int, cpuCores float64) {
	if n > 100000 {
		return 2048, 1
	}
	return 300, 0.05
}

// scaleFigure: n hourly jobs spread over 50 minutes of the hour that exclude the next
// ten (so that none fires while it measures), on a fresh cluster next to the
// `@every 1s` job: servers' RSS, the lock holder's CPU between ticks, and after a
// SIGKILL of the holder, the time from the lock changing hands to the next launch.
func (e *env) scaleFigure(n int) error {
	b, err := e.startTicking("scale", "always")
	if err != nil {
		return err
	}
	defer b.close()
	jobs := newHourlyJobs("scale", n, time.Now())
	e.logf("scale: storing %d hourly jobs", n)
	t0 := time.Now()
	if err := b.putMany(e.ctx, jobs.keys, jobs.specs(e, filepath.Join(b.dir, "scale.log"))); err != nil {
		return err
	}
	stored := time.Since(t0)
	wait := 4 * time.Minute * time.Duration(max(1, n/100000)) // 4 min per 100,000 jobs
	got, err := b.waitJobStates(e.ctx, "scale", n, time.Now().Add(wait))
	if err != nil {
		return err
	}
	ingest := time.Since(t0)
	alive := e.tickAlive(b)
	e.logf("scale: stored in %s; ticker wrote %d/%d job states after %s; tick job still launching: %v", ms(stored), got, n, ms(ingest), alive)
	if got < n || !alive {
		e.notes = append(e.notes, fmt.Sprintf("scale %d: the ticker wrote %d of %d job states within %s; the `@every 1s` job still launching: %v", n, got, n, wait, alive))
	}
	_ = sleepUntil(e.ctx, time.Now().Add(5*time.Second))
	var rss []string
	maxRSS := 0
	for _, p := range b.c.Servers() {
		kb := rssKB(p.PID())
		maxRSS = max(maxRSS, kb)
		rss = append(rss, fmt.Sprintf("%.0f", float64(kb)/1024))
	}
	holder, err := b.holder(e.ctx)
	if err != nil {
		return err
	}
	const window = 30 * time.Second
	profPath := filepath.Join(b.dir, "scale-leader.pprof")
	prof := cpuProfile(holder, window, profPath)
	c0, w0 := cpuTicks(holder.PID()), time.Now()
	_ = sleepUntil(e.ctx, w0.Add(window))
	c1, w1 := cpuTicks(holder.PID()), time.Now()
	cpu := float64(c1-c0) / 100 / w1.Sub(w0).Seconds() // CLK_TCK = 100
	tickerShare := "?"
	if err := <-prof; err == nil {
		tickerShare = e.pprofFocus(e.jetcron, profPath, "jetcron/(ticker|job)\\.")
	}
	heapPath := filepath.Join(b.dir, "scale-leader-heap.pprof")
	if err := <-fetchProfile(holder, "heap", heapPath); err == nil {
		fmt.Println(e.pprofTopArgs(e.jetcron, heapPath, "-sample_index=inuse_space", "-nodecount=25"))
	}
	load := loadavg()
	rssTarget, cpuTarget := scaleTargets(n)
	e.add(row{Figure: fmt.Sprintf("scale: server RSS with %d hourly jobs (3 servers)", n), Value: strings.Join(rss, ", ") + " MB", Floor: "–", Ratio: "–",
		Target: fmt.Sprintf("≤ %d MB", rssTarget), Met: met(maxRSS <= rssTarget*1024 && got == n), Load: load})
	e.add(row{Figure: fmt.Sprintf("scale: lock holder CPU between ticks (%d jobs, 30 s, the `@every 1s` job running)", n),
		Value: fmt.Sprintf("%.1f%% of a core (process); ticker+job packages: %s", 100*cpu, tickerShare), Floor: "–", Ratio: "–",
		Target: fmt.Sprintf("≤ %.0f%% of a core", 100*cpuTarget), Met: met(cpu <= cpuTarget), Load: load})
	ready, ok, err := e.holderKillToLaunch(b, holder)
	if err != nil {
		return err
	}
	e.add(row{Figure: fmt.Sprintf("scale: new lock holder, lock won → first launch (%d jobs)", n), Value: ready,
		Floor: "–", Ratio: "–", Target: "≤ 5 s", Met: met(ok), Load: loadavg()})
	return nil
}

// startTicking starts a cluster and the tick job (`@every 1s`) on it.
func (e *env) startTicking(label, sync string) (*bc, error) {
	b, err := e.startCluster(label, sync)
	if err != nil {
		return nil, err
	}
	if err := e.tickFigure(b, 0, false); err != nil {
		b.close()
		return nil, err
	}
	return b, nil
}

// hourlyJobs are n hourly jobs named prefix-NNNNNN, each at a second of a minute
// among those of the hour that exclude the next ten after now (25 beyond 100,000
// jobs), so that none fires while a figure measures.
type hourlyJobs struct {
	keys      []string
	sec, mins []int
}

func newHourlyJobs(prefix string, n int, now time.Time) hourlyJobs {
	lead := 10
	if n > 100000 {
		lead = 25
	}
	h := hourlyJobs{keys: make([]string, n), sec: make([]int, n), mins: make([]int, n)}
	for i := range n {
		h.keys[i] = fmt.Sprintf("%s-%06d", prefix, i)
		h.sec[i], h.mins[i] = i%60, (now.Minute()+lead+(i/60)%(60-lead))%60
	}
	return h
}

// specs are the jobs' files, each job writing its starts to ledger.
func (h hourlyJobs) specs(e *env, ledger string) [][]byte {
	vals := make([][]byte, len(h.keys))
	for i := range h.keys {
		vals[i] = []byte(e.jobYAML(fmt.Sprintf("%d %d * * * * *", h.sec[i], h.mins[i]), ledger))
	}
	return vals
}

// holderKillToLaunch SIGKILLs the lock holder and measures the time from the lock
// changing hands to the next launch of the tick job, as "D (lock moved M after the
// kill)"; ok when D is within 5 s.
func (e *env) holderKillToLaunch(b *bc, holder *cluster.Proc) (ready string, ok bool, err error) {
	k := time.Now()
	if err := holder.Kill(); err != nil {
		return "", false, err
	}
	var moved time.Duration
	for time.Since(k) < 30*time.Second {
		if q, err := b.holder(e.ctx); err == nil && q != holder {
			moved = time.Since(k)
			break
		}
		_ = sleepUntil(e.ctx, time.Now().Add(50*time.Millisecond))
	}
	var first int64
	for first == 0 && time.Since(k) < 60*time.Second {
		lines, _ := readLedger(filepath.Join(b.dir, "tick.log"))
		for _, l := range lines {
			if l.start > k.Add(moved).UnixNano() && (first == 0 || l.start < first) {
				first = l.start
			}
		}
		_ = sleepUntil(e.ctx, time.Now().Add(50*time.Millisecond))
	}
	ready = "none within 60 s"
	if first > 0 && moved > 0 {
		d := time.Duration(first - k.Add(moved).UnixNano())
		ready, ok = ms(d), d <= 5*time.Second
	}
	return ready + fmt.Sprintf(" (lock moved %s after the kill)", ms(moved)), ok, nil
}

// cpuTicks is utime + stime of a process, in clock ticks.
func cpuTicks(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return u + st
}

// pprofFocus is the share of a CPU profile's samples under functions matching re, as
// "X ms of Y ms".
func (e *env) pprofFocus(bin, path, re string) string {
	out := e.pprofTopArgs(bin, path, "-focus="+re)
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "Showing nodes accounting for") {
			return strings.TrimPrefix(strings.TrimSpace(l), "Showing nodes accounting for ")
		}
	}
	return "0 samples"
}
