package operator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetcron/jetcron/subjects"
)

// Run returns the record of the run runID (`<job>/periodic-<unix>`, or
// `<job>/periodic-<unix>/<node>` for a sysbatch job's run on one node).
func (c *Client) Run(ctx context.Context, runID string) (*subjects.Run, error) {
	key, err := subjects.RunKeyOf(runID)
	if err != nil {
		return nil, err
	}
	kv, err := c.Bucket(ctx, subjects.RunStateBucket)
	if err != nil {
		return nil, err
	}
	r, err := readRun(ctx, kv, key)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("run %q %w", runID, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read run %q: %w", runID, err)
	}
	return r, nil
}

// RunStatus is a run's record as `job status RUN -json` prints it and /v1/run/<id>
// serves it: the record's own fields, and for a sysbatch tick its runs on each node.
type RunStatus struct {
	subjects.Run
	// NodeRuns are a sysbatch tick's runs on its nodes, in the order of its Nodes
	// (one not made yet, or expired, is left out); absent for any other run.
	NodeRuns []subjects.Run `json:"node_runs,omitempty"`
}

// RunStatus returns the record of the run runID (`<job>/periodic-<unix>`, or
// `<job>/periodic-<unix>/<node>` for a sysbatch job's run on one node) and, for a
// sysbatch tick, its runs on each node.
func (c *Client) RunStatus(ctx context.Context, runID string) (*RunStatus, error) {
	r, err := c.Run(ctx, runID)
	if err != nil {
		return nil, err
	}
	st := &RunStatus{Run: *r}
	if len(r.Nodes) > 0 && r.Node == "" {
		if st.NodeRuns, err = c.NodeRuns(ctx, r); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// NodeRuns reads the runs on each node of the sysbatch tick whose record is tick, in
// the order of its Nodes; a node whose run is not made yet, or expired, is left out.
func (c *Client) NodeRuns(ctx context.Context, tick *subjects.Run) ([]subjects.Run, error) {
	kv, err := c.Bucket(ctx, subjects.RunStateBucket)
	if err != nil {
		return nil, err
	}
	at := time.Unix(tick.Scheduled, 0)
	var out []subjects.Run
	for _, node := range tick.Nodes {
		r, err := readRun(ctx, kv, subjects.NodeRunKey(tick.Job, at, node))
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read the runs of %s on its nodes: %w", tick.ID, err)
		}
		out = append(out, *r)
	}
	return out, nil
}

// RunOutput is a run's captured output with its record, as `run logs -json` prints
// it and /v1/run/<id>/logs serves it. Run is absent when only the output is left.
type RunOutput struct {
	RunID  string        `json:"run_id"`
	Output string        `json:"output"`
	Run    *subjects.Run `json:"run,omitempty"`
}

// RunLogs returns the captured output of the run runID (nil when it left none) and
// its record (nil when only the output is left). The error wraps ErrNotFound when
// neither exists.
func (c *Client) RunLogs(ctx context.Context, runID string) (logs []byte, run *subjects.Run, err error) {
	key, err := subjects.RunKeyOf(runID)
	if err != nil {
		return nil, nil, err
	}
	if logs, err = c.output(ctx, runID, key); err != nil {
		return nil, nil, err
	}
	run, err = c.Run(ctx, runID)
	if errors.Is(err, ErrNotFound) && logs != nil {
		return logs, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	return logs, run, nil
}

// output reads the captured output of the run runID, stored under key; nil when it
// left none.
func (c *Client) output(ctx context.Context, runID, key string) ([]byte, error) {
	kv, err := c.Bucket(ctx, subjects.LogsBucket)
	if err != nil {
		return nil, err
	}
	e, err := kv.Get(ctx, key)
	switch {
	case err == nil:
		return e.Value(), nil
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return nil, nil
	default:
		return nil, fmt.Errorf("read the output of run %q: %w", runID, err)
	}
}

// FollowRun calls fn with the run's record and captured output as they are now, then
// again each time the record changes, until the run has ended (nil) or ctx ends.
// The runner stores a run's output before it records the end, so the last call
// carries the whole stored output. The error wraps ErrNotFound when the run has
// neither record nor output.
func (c *Client) FollowRun(ctx context.Context, runID string, fn func(RunOutput) error) error {
	key, err := subjects.RunKeyOf(runID)
	if err != nil {
		return err
	}
	runsKV, err := c.Bucket(ctx, subjects.RunStateBucket)
	if err != nil {
		return err
	}
	w, err := runsKV.Watch(ctx, key)
	if err != nil {
		return fmt.Errorf("follow run %q: %w", runID, err)
	}
	defer func() { _ = w.Stop() }()
	seen := false
	for {
		var e jetstream.KeyValueEntry
		select {
		case <-ctx.Done():
			return ctx.Err()
		case u, ok := <-w.Updates():
			if !ok {
				return fmt.Errorf("follow run %q: the watch ended", runID)
			}
			e = u
		}
		if e == nil { // the stored value, if any, has been delivered
			if !seen {
				logs, run, err := c.RunLogs(ctx, runID)
				if err != nil {
					return err
				}
				// Output without a record: nothing more will come.
				return fn(RunOutput{RunID: runID, Output: string(logs), Run: run})
			}
			continue
		}
		if e.Operation() != jetstream.KeyValuePut {
			continue
		}
		seen = true
		var run subjects.Run
		if err := json.Unmarshal(e.Value(), &run); err != nil {
			return fmt.Errorf("follow run %q: %w", runID, err)
		}
		logs, err := c.output(ctx, runID, key) // the record came with the watch
		if err != nil {
			return err
		}
		if err := fn(RunOutput{RunID: runID, Output: string(logs), Run: &run}); err != nil {
			return err
		}
		if run.State.Terminal() {
			return nil
		}
	}
}
