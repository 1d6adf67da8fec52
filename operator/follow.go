package operator

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetcron/jetcron/subjects"
)

const (
	// followEvery is the shortest time between two calls of FollowRun's fn for
	// live lines: what comes meanwhile is given together.
	followEvery = 100 * time.Millisecond
	// followBuffer is how many live messages may wait for FollowRun; past it, the
	// subscription drops them (the view then says bytes were not seen).
	followBuffer = 256
)

// FollowRun calls fn with the run's record and output as they are now, then again as
// they change, until the run has ended (nil) or ctx ends. The output is the text so
// far: the stored tail, then the lines the runner publishes live as they come
// (subjects.OutputSubject), each where it belongs in what the run printed; a gap is
// said in a line of its own (lines printed before the follow began, lost on the way,
// or over the runner's rate). Past followKeep of live lines, the oldest go and the
// output begins with a cut line. fn is called at once when the record changes, and
// for live lines at most once every followEvery. The runner stores a run's output
// before it records its end, so the last call carries the stored output, which is
// authoritative. Each call's Fresh is what it adds to the previous ones. The error
// wraps ErrNotFound when the run has neither record nor output.
func (c *Client) FollowRun(ctx context.Context, runID string, fn func(RunOutput) error) error {
	key, err := subjects.RunKeyOf(runID)
	if err != nil {
		return err
	}
	// Subscribed before anything stored is read: no line falls between the two.
	lines := make(chan *nats.Msg, followBuffer)
	sub, err := c.nc.ChanSubscribe(subjects.OutputSubject(key), lines)
	if err != nil {
		return fmt.Errorf("follow run %q: %w", runID, err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	tails, err := c.bucketStream(ctx, subjects.LogsBucket)
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

	var (
		view  followView
		run   *subjects.Run
		waitC <-chan time.Time // wait's channel while live lines wait to be given to fn
		last  time.Time
	)
	wait := time.NewTimer(followEvery)
	wait.Stop()
	defer wait.Stop()
	call := func() error {
		wait.Stop()
		waitC, last = nil, time.Now()
		return fn(RunOutput{RunID: runID, Output: view.output(), Run: run, Fresh: view.fresh()})
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case m := <-lines:
			p, ok := livePiece(m)
			if !ok {
				continue
			}
			view.add(p)
			if run == nil || waitC != nil {
				continue // the first call waits for the record
			}
			wait.Reset(time.Until(last.Add(followEvery)))
			waitC = wait.C
		case <-waitC:
			if err := call(); err != nil {
				return err
			}
		case e, ok := <-w.Updates():
			if !ok {
				return fmt.Errorf("follow run %q: the watch ended", runID)
			}
			if e == nil { // the stored value, if any, has been delivered
				if run != nil {
					continue
				}
				logs, r, err := c.RunLogs(ctx, runID)
				if err != nil {
					return err
				}
				// Output without a record: nothing more will come.
				return fn(RunOutput{RunID: runID, Output: string(logs), Run: r, Fresh: string(logs)})
			}
			if e.Operation() != jetstream.KeyValuePut {
				continue
			}
			var r subjects.Run
			if err := json.Unmarshal(e.Value(), &r); err != nil {
				return fmt.Errorf("follow run %q: %w", runID, err)
			}
			run = &r
			data, cut, err := storedOutput(ctx, tails, runID, key)
			if err != nil {
				return err
			}
			if c.afterOutputRead != nil {
				c.afterOutputRead()
			}
			view.setStored(data, cut)
			if err := call(); err != nil {
				return err
			}
			if r.State.Terminal() {
				return nil
			}
		}
	}
}

// livePiece reads a live output message: its data at its offset, or a note of
// dropped bytes. A message without an offset is not jetcron's: ok is false.
func livePiece(m *nats.Msg) (p piece, ok bool) {
	off, err := strconv.ParseInt(m.Header.Get(subjects.OutputOffsetHeader), 10, 64)
	if err != nil || off < 0 {
		return piece{}, false
	}
	return piece{off: off, text: string(m.Data), note: m.Header.Get(subjects.OutputDroppedHeader) != ""}, true
}
