package operator

import (
	"context"
	"errors"
	"fmt"
	"strconv"
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
	// Fresh, set by FollowRun only, is what this call adds to the text the previous
	// calls gave, in the order the run printed it: what a terminal prints next.
	// Output may have been replaced meanwhile (by the stored tail, or cut); Fresh never
	// repeats what was given.
	Fresh string `json:"-"`
}

// RunLogs returns the captured output of the run runID (nil when it left none) and
// its record (nil when only the output is left). The error wraps ErrNotFound when
// neither exists.
func (c *Client) RunLogs(ctx context.Context, runID string) (logs []byte, run *subjects.Run, err error) {
	key, err := subjects.RunKeyOf(runID)
	if err != nil {
		return nil, nil, err
	}
	st, err := c.bucketStream(ctx, subjects.LogsBucket)
	if err != nil {
		return nil, nil, err
	}
	if logs, _, err = storedOutput(ctx, st, runID, key); err != nil {
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

// storedOutput reads the output tail stored for the run runID under key in the
// logs bucket's stream st: its text (nil when it left none) and how many bytes were
// cut from its start (subjects.OutputCutHeader).
func storedOutput(ctx context.Context, st jetstream.Stream, runID, key string) ([]byte, int64, error) {
	m, err := st.GetLastMsgForSubject(ctx, subjects.KVSubject(subjects.LogsBucket, key))
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		return nil, 0, nil
	case err != nil:
		return nil, 0, fmt.Errorf("read the output of run %q: %w", runID, err)
	case m.Header.Get(subjects.KVOperationHeader) != "": // deleted or purged
		return nil, 0, nil
	}
	cut, _ := strconv.ParseInt(m.Header.Get(subjects.OutputCutHeader), 10, 64)
	return m.Data, cut, nil
}
