package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jetcron/jetcron/operator"
)

// uiFigure: the web UI's job list with n jobs, each with a real last result: on a
// fresh cluster, n jobs whose first cron names one second T (every tenth runs
// /bin/false, the rest /bin/true) and whose second is daily 12 hours away, so that
// each has a next launch and none fires again while it measures. Once every job has
// its last result, a server's /ui/ (the first page of 100) and /ui/?status=failed
// (a filter that reads every job's last result) are fetched `loads` times each,
// interleaved with the floor, /v1/jobs (every job as JSON, the same reads), from
// the same server: the fetch time (request → last byte) and the server's own read
// and render times (the page's Server-Timing header).
func (e *env) uiFigure(n, loads int) error {
	b, err := e.startCluster("ui", "always")
	if err != nil {
		return err
	}
	defer b.close()
	ctx := e.ctx
	T := time.Now().Truncate(time.Second).Add(10*time.Second + time.Duration(n)*12*time.Millisecond).UTC()
	once := fmt.Sprintf("%d %d %d %d %d * %d", T.Second(), T.Minute(), T.Hour(), T.Day(), int(T.Month()), T.Year())
	daily := fmt.Sprintf("0 0 %d * * * *", (T.Hour()+12)%24)
	keys, vals := make([]string, n), make([][]byte, n)
	for i := range n {
		command := "/bin/true"
		if i%10 == 0 {
			command = "/bin/false"
		}
		keys[i] = fmt.Sprintf("ui-%05d", i)
		vals[i] = fmt.Appendf(nil, "datacenters: [dc1]\nperiodic: {crons: [%q, %q]}\ntask: {driver: raw_exec, config: {command: %s}}\n", once, daily, command)
	}
	e.logf("ui: storing %d jobs due at %s, every tenth failing", n, T.Format("15:04:05"))
	if err := b.putMany(ctx, keys, vals); err != nil {
		return err
	}
	got, err := b.waitJobStates(ctx, "ui", n, T.Add(-time.Second))
	if err != nil {
		return err
	}
	if got < n { // the others miss their run: they are listed without a last result
		e.notes = append(e.notes, fmt.Sprintf("ui: the ticker scheduled %d of %d jobs before they were due", got, n))
	}
	op := operator.New(b.nc, b.js, b.c.URL())
	var results map[string]int
	for deadline := T.Add(60*time.Second + time.Duration(n)*20*time.Millisecond); ; {
		if err := sleepUntil(ctx, time.Now().Add(3*time.Second)); err != nil {
			return err
		}
		if results = lastResults(ctx, op, "ui-"); sum(results) >= n {
			break
		}
		if time.Now().After(deadline) {
			e.notes = append(e.notes, fmt.Sprintf("ui: %d of %d jobs had a last result when measured (%v)", sum(results), n, results))
			break
		}
	}
	e.logf("ui: last results %v; measuring %d loads of each page", results, loads)

	base := b.c.Servers()[0].HTTP
	var floor, list, filtered fetches
	for range loads {
		for _, f := range []struct {
			into *fetches
			path string
		}{{&floor, "/v1/jobs"}, {&list, "/ui/"}, {&filtered, "/ui/?status=failed"}} {
			if err := f.into.fetch(ctx, base+f.path); err != nil {
				return err
			}
		}
	}
	load := loadavg()
	fl := statsOf(floor.total)
	for _, x := range []struct {
		what string
		f    *fetches
	}{
		{fmt.Sprintf("ui: job list, first page of 100 of %d jobs", n), &list},
		{fmt.Sprintf("ui: job list filtered on the last result (?status=failed: %d of %d jobs, 100 shown)", results["failed"], n), &filtered},
	} {
		s := statsOf(x.f.total)
		e.add(row{Figure: x.what + ", fetch p50 / p99 / max (" + strconv.Itoa(loads) + " loads)", Value: s.String() + fmt.Sprintf(" (%d KB)", x.f.bytes/1024),
			Floor: fl.String() + fmt.Sprintf(" (GET /v1/jobs, every job, %d KB)", floor.bytes/1024), Ratio: "p99 " + ratio(s.p99, fl.p99),
			Target: "< 1 s", Met: met(s.p99 < time.Second), Load: load})
		e.add(row{Figure: x.what + ", server read ; render p50 / p99 / max", Value: statsOf(x.f.read).String() + " ; " + statsOf(x.f.render).String(),
			Floor: "–", Ratio: "–", Target: "(the server's share)", Met: "–", Load: load})
	}
	return nil
}

// lastResults counts the last results of the jobs whose name starts with prefix, by
// outcome; nil when the cluster does not answer.
func lastResults(ctx context.Context, op *operator.Client, prefix string) map[string]int {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	rows, err := op.Jobs(ctx, nil)
	if err != nil {
		return nil
	}
	out := map[string]int{}
	for _, r := range rows {
		if strings.HasPrefix(r.ID, prefix) && r.LastResult != "" {
			out[r.LastResult]++
		}
	}
	return out
}

// sum is the total of counts.
func sum(counts map[string]int) int {
	n := 0
	for _, c := range counts {
		n += c
	}
	return n
}

// fetches are the timings of the loads of one URL: request → last byte, and the
// read and render times of the page's Server-Timing header (none for JSON).
type fetches struct {
	total, read, render []time.Duration
	bytes               int
}

// fetch loads url once and records its timings; a status other than 200 is an error.
func (f *fetches) fetch(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	t0 := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	took := time.Since(t0)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	f.total, f.bytes = append(f.total, took), int(n)
	if read, render, ok := serverTiming(resp.Header.Get("Server-Timing")); ok {
		f.read, f.render = append(f.read, read), append(f.render, render)
	}
	return nil
}

// serverTiming reads the UI's Server-Timing header, "read;dur=MS, render;dur=MS".
func serverTiming(h string) (read, render time.Duration, ok bool) {
	durs := map[string]time.Duration{}
	for _, metric := range strings.Split(h, ",") {
		name, dur, found := strings.Cut(strings.TrimSpace(metric), ";dur=")
		ms, err := strconv.ParseFloat(dur, 64)
		if !found || err != nil {
			return 0, 0, false
		}
		durs[name] = time.Duration(ms * float64(time.Millisecond))
	}
	read, okRead := durs["read"]
	render, okRender := durs["render"]
	return read, render, okRead && okRender
}
