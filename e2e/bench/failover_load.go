package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetcron/jetcron/subjects"
)

// burnEnv, set to a number N, makes the bench binary a CPU burner: N goroutines that
// spin until the process is killed (falseFailovers starts it under taskset).
const burnEnv = "JETCRON_BENCH_BURN"

// burn spins n goroutines forever.
func burn(n int) {
	for range n - 1 {
		go spin()
	}
	spin()
}

//go:noinline
func spin() {
	x := 0
	for {
		x++
	}
}

// falseFailovers loads the CPUs the lock holder may run on: another process pinned to
// the same CPUs (taskset) with e.loadFactor busy goroutines per CPU, each on a thread
// of its own, for e.loadFor, so that the holder (its NATS server and its ticker) gets
// at most its fair share. It counts what would be a false failover: the lock changing
// holder (or being deleted) and terms lost; the renewals that got no answer (launches
// pause until one succeeds); the longest gap between two renewals the bench saw (its
// watch runs on the same loaded CPUs); and the tick job's late, missed and doubled
// ticks meanwhile.
func (e *env) falseFailovers(b *bc, ledger string) error {
	if err := b.c.WaitReady(e.ctx, 60*time.Second); err != nil {
		return err
	}
	if err := b.waitCurrent(e.ctx, 60*time.Second); err != nil {
		return err
	}
	_ = sleepUntil(e.ctx, time.Now().Add(3*time.Second))
	p, err := b.holder(e.ctx)
	if err != nil {
		return err
	}
	cpus, ncpu, err := allowedCPUs(p.PID())
	if err != nil {
		return err
	}
	n := ncpu * e.loadFactor
	self, err := os.Executable()
	if err != nil {
		return err
	}
	// Every server's log from here on: renewals that failed, terms won or lost.
	offsets := map[string]int64{}
	for _, s := range b.c.Servers() {
		if st, err := os.Stat(s.Log); err == nil {
			offsets[s.Log] = st.Size()
		}
	}
	wctx, stopWatch := context.WithCancel(e.ctx)
	defer stopWatch()
	w, err := b.lock.Watch(wctx, subjects.LockKey, jetstream.UpdatesOnly())
	if err != nil {
		return fmt.Errorf("watch the lock: %w", err)
	}
	type seen struct {
		changes int
		maxGap  time.Duration
		renewed int
	}
	result := make(chan seen, 1)
	go func() {
		var s seen
		var last time.Time
		holder := p.Name
		for ent := range w.Updates() {
			if ent == nil {
				continue
			}
			now := time.Now()
			var l subjects.Lock
			if ent.Operation() != jetstream.KeyValuePut || json.Unmarshal(ent.Value(), &l) != nil {
				l.Holder = ""
			}
			if l.Holder == holder {
				s.renewed++
			} else {
				s.changes++ // to another holder, or deleted
			}
			holder = l.Holder
			if !last.IsZero() && now.Sub(last) > s.maxGap {
				s.maxGap = now.Sub(last)
			}
			last = now
		}
		result <- s
	}()
	e.logf("false failovers: %d busy goroutines pinned to CPUs %s (those of the holder %s, pid %d) for %s", n, cpus, p.Name, p.PID(), e.loadFor)
	bctx, cancel := context.WithTimeout(e.ctx, e.loadFor)
	defer cancel()
	cmd := exec.CommandContext(bctx, "taskset", "-c", cpus, self)
	// As many threads as goroutines: the burner's runnable threads are the load.
	cmd.Env = append(os.Environ(), burnEnv+"="+strconv.Itoa(n), "GOMAXPROCS="+strconv.Itoa(n))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	winStart := time.Now()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the CPU burner: %w", err)
	}
	cpu0 := cpuTicks(p.PID())
	busy0, all0 := cpuBusy()
	_ = cmd.Wait() // killed when bctx ends
	winEnd := time.Now()
	cpu1 := cpuTicks(p.PID())
	busy1, all1 := cpuBusy()
	load := loadavg()
	_ = sleepUntil(e.ctx, time.Now().Add(3*time.Second)) // the window's last ticks run
	stopWatch()
	s := <-result
	failed, lost, won := 0, 0, 0
	for path, off := range offsets {
		text := readFrom(path, off)
		failed += strings.Count(text, "ticker lock renewal failed")
		lost += strings.Count(text, "ticker lock lost") // once a term, whatever ended it
		won += strings.Count(text, "ticker lock won")
	}
	late, missed, doubled, ticks, err := tickCounts(ledger, winStart.Add(time.Second), winEnd.Add(-time.Second))
	if err != nil {
		return err
	}
	share := float64(cpu1-cpu0) / 100 / winEnd.Sub(winStart).Seconds() // USER_HZ 100
	e.add(row{Figure: fmt.Sprintf("false failovers: lock changes / renewals without an answer / terms lost, %s with %d busy goroutines on the holder's %d CPUs (lock_ttl %s)", e.loadFor, n, ncpu, lockTTL),
		Value: fmt.Sprintf("%d / %d / %d (lock won %d times; CPUs %.0f%% busy, the holder used %.2f of one)", s.changes, failed, lost, won, 100*(busy1-busy0)/max(all1-all0, 1), share),
		Floor: "–", Ratio: "–", Target: "0 / – / 0", Met: met(s.changes == 0 && lost == 0 && won == 0), Load: load})
	e.add(row{Figure: "false failovers: renewals seen / longest gap between two (bench's watch, also loaded)",
		Value: fmt.Sprintf("%d / %s (renewed every %s, TTL %s)", s.renewed, ms(s.maxGap), lockTTL/4, lockTTL), Floor: "–", Ratio: "–", Target: "gap < TTL", Met: met(s.maxGap < lockTTL), Load: load})
	e.add(row{Figure: "false failovers: late (> 1 s) / missed / doubled ticks under the load", Value: fmt.Sprintf("%d / %d / %d (of %d ticks)", late, missed, doubled, ticks),
		Floor: "–", Ratio: "–", Target: "– / 0 / 0", Met: met(missed == 0 && doubled == 0), Load: load})
	return nil
}

// allowedCPUs is the CPU list pid may run on (as taskset -c takes it) and its size.
func allowedCPUs(pid int) (string, int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "", 0, err
	}
	m := regexp.MustCompile(`Cpus_allowed_list:\s*(\S+)`).FindSubmatch(b)
	if m == nil {
		return "", 0, fmt.Errorf("no Cpus_allowed_list for pid %d", pid)
	}
	list, n := string(m[1]), 0
	for _, part := range strings.Split(list, ",") {
		lo, hi, ok := strings.Cut(part, "-")
		a, err1 := strconv.Atoi(lo)
		z := a
		var err2 error
		if ok {
			z, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil {
			return "", 0, fmt.Errorf("unreadable CPU list %q", list)
		}
		n += z - a + 1
	}
	return list, max(n, 1), nil
}

// cpuBusy reads the machine's CPU time from /proc/stat: busy (everything but idle and
// iowait) and all, in ticks.
func cpuBusy() (busy, all float64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	for i, v := range f[1:] {
		x, _ := strconv.ParseFloat(v, 64)
		if i >= 8 {
			break // guest time is already in user
		}
		all += x
		if i != 3 && i != 4 {
			busy += x
		}
	}
	return busy, all
}

// readFrom returns the file's text from offset on.
func readFrom(path string, offset int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.Size() <= offset {
		return ""
	}
	buf := make([]byte, st.Size()-offset)
	n, _ := f.ReadAt(buf, offset)
	return string(buf[:n])
}
