package operator

import (
	"context"
	"errors"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/jetcron/jetcron/subjects"
)

// This file lists a job's runs from the keys of the run state bucket: a tick's
// record (subjects.RunKey) and, for a sysbatch tick, its runs on each node
// (subjects.NodeRunKey), which stand for it in listings.

// Runs returns the newest n runs of job, oldest first. A sysbatch tick whose runs on
// its nodes exist is listed as those runs (by node), not as its own record.
func (c *Client) Runs(ctx context.Context, name string, n int) ([]subjects.Run, error) {
	kv, err := c.Bucket(ctx, subjects.RunStateBucket)
	if err != nil {
		return nil, err
	}
	ks, err := Keys(ctx, kv, subjects.JobRunsFilter(name))
	if err != nil {
		return nil, err
	}
	sorted := listed(ks, 0)
	if len(sorted) > n {
		sorted = sorted[len(sorted)-n:]
	}
	runs := make([]subjects.Run, 0, len(sorted))
	for _, k := range sorted {
		r, err := readRun(ctx, kv, k.key)
		if errors.Is(err, ErrNotFound) {
			continue // expired since the listing
		}
		if err != nil {
			return nil, err
		}
		setID(r, name, k)
		runs = append(runs, *r)
	}
	return runs, nil
}

// listed reads back the run keys of one job whose tick is at or after since (Unix
// seconds) and returns those a listing shows, oldest tick first and by node: a
// sysbatch tick whose runs on its nodes exist is listed as those runs, not as its own
// record. Keys that are not run keys are left out.
func listed(keys []string, since int64) []runKey {
	var parsed []runKey
	nodeTicks := map[int64]bool{}
	for _, k := range keys {
		if rk, ok := parseRunKey(k); ok && rk.tick >= since {
			parsed = append(parsed, rk)
			nodeTicks[rk.tick] = nodeTicks[rk.tick] || rk.node != ""
		}
	}
	var sorted []runKey
	for _, rk := range parsed {
		if rk.node != "" || !nodeTicks[rk.tick] {
			sorted = append(sorted, rk)
		}
	}
	sort.Slice(sorted, func(i, j int) bool {
		if sorted[i].tick != sorted[j].tick {
			return sorted[i].tick < sorted[j].tick
		}
		return sorted[i].node < sorted[j].node
	})
	return sorted
}

// setID names a record of job's stored under k that does not name itself (written
// by an older jetcron).
func setID(r *subjects.Run, job string, k runKey) {
	if r.ID != "" {
		return
	}
	r.ID = subjects.RunID(job, time.Unix(k.tick, 0))
	if node, err := subjects.ParseToken(k.node); k.node != "" && err == nil {
		r.ID = subjects.NodeRunID(job, time.Unix(k.tick, 0), node)
	}
}

// lastResultTries bounds how many of a job's newest ticks lastResults reads looking
// for a finished one.
const lastResultTries = 5

// lastResultReaders bounds the jobs whose last result lastResults reads at once: each
// read is a request to the servers, which answer several at a time, so that a list
// of 10,000 jobs does not wait for 10,000 round trips one after the other.
const lastResultReaders = 16

// lastResults returns each job's newest finished run among its lastResultTries
// newest ticks, keyed by job name: of every job when tokens is nil, else of the jobs
// whose token (subjects.Token) it holds. A sysbatch tick has finished once every
// node's run has: its result is the worst of them (failed, lost, then complete).
func (c *Client) lastResults(ctx context.Context, tokens map[string]bool) (map[string]*subjects.Run, error) {
	kv, err := c.Bucket(ctx, subjects.RunStateBucket)
	if err != nil {
		return nil, err
	}
	ks, err := Keys(ctx, kv, ">")
	if err != nil {
		return nil, err
	}
	byJob := map[string][]runKey{}
	for _, k := range ks {
		rk, ok := parseRunKey(k)
		if ok && (tokens == nil || tokens[rk.token]) {
			byJob[rk.token] = append(byJob[rk.token], rk)
		}
	}
	var mu sync.Mutex
	out := map[string]*subjects.Run{}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(lastResultReaders)
	for tok, rks := range byJob {
		g.Go(func() error {
			name, r, err := lastResult(gctx, kv, tok, rks)
			if err != nil || r == nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			out[name] = r
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// lastResult is the newest finished run among the lastResultTries newest ticks of
// the job whose token is tok and run keys rks, and the job's name; nil when none has
// finished.
func lastResult(ctx context.Context, kv jetstream.KeyValue, tok string, rks []runKey) (string, *subjects.Run, error) {
	for i, tick := range ticksOf(rks) {
		if i == lastResultTries {
			break
		}
		r, err := tickResult(ctx, kv, tick)
		if err != nil {
			return "", nil, err
		}
		if r == nil {
			continue
		}
		name := r.Job
		if name == "" {
			if name, err = subjects.ParseToken(tok); err != nil {
				return "", nil, nil
			}
		}
		return name, r, nil
	}
	return "", nil, nil
}

// tickKeys are the keys of one tick of a job: its record's and its node runs'.
type tickKeys struct {
	tick  int64
	keys  []runKey
	nodes bool // some key is a node run's: they stand for the tick's record
}

// ticksOf groups a job's run keys by tick, newest tick first.
func ticksOf(rks []runKey) []tickKeys {
	at := map[int64]int{}
	var out []tickKeys
	for _, rk := range rks {
		i, ok := at[rk.tick]
		if !ok {
			i = len(out)
			at[rk.tick] = i
			out = append(out, tickKeys{tick: rk.tick})
		}
		out[i].keys = append(out[i].keys, rk)
		out[i].nodes = out[i].nodes || rk.node != ""
	}
	sort.Slice(out, func(i, j int) bool { return out[i].tick > out[j].tick })
	return out
}

// tickResult is the finished run that stands for a tick: its record's, or for a
// sysbatch tick the worst of its node runs once all have ended; nil while it has not
// finished (or its records expired).
func tickResult(ctx context.Context, kv jetstream.KeyValue, t tickKeys) (*subjects.Run, error) {
	var worst *subjects.Run
	for _, rk := range t.keys {
		if t.nodes && rk.node == "" {
			continue
		}
		r, err := readRun(ctx, kv, rk.key)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if !r.State.Terminal() || r.State == subjects.StateLaunched {
			return nil, nil
		}
		if worst == nil || severity(r.State) > severity(worst.State) {
			worst = r
		}
	}
	return worst, nil
}

// severity orders outcomes for a sysbatch tick's result: a failure on one node
// outweighs success on the others.
func severity(s subjects.RunState) int {
	switch s {
	case subjects.StateFailed:
		return 3
	case subjects.StateLost:
		return 2
	case subjects.StateComplete:
		return 1
	}
	return 0
}

// runKey is a key of the run state bucket, read back: a tick's record, or (node set)
// a sysbatch job's run on one node.
type runKey struct {
	key, token string
	tick       int64
	node       string // the node's token; empty for a tick's record
}

// parseRunKey reads a subjects.RunKey or subjects.NodeRunKey back into its job
// token, tick and node token.
func parseRunKey(k string) (runKey, bool) {
	tok, rest, ok := strings.Cut(k, ".")
	if !ok || tok == "" {
		return runKey{}, false
	}
	digits, node, hasNode := strings.Cut(rest, ".")
	if hasNode && (node == "" || strings.Contains(node, ".")) {
		return runKey{}, false
	}
	tick, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return runKey{}, false
	}
	return runKey{key: k, token: tok, tick: tick, node: node}, true
}
