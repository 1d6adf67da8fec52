package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetcron/jetcron/e2e/cluster"
	"github.com/jetcron/jetcron/subjects"
)

// Observed is one revision of a run record as the watcher saw it.
type Observed struct {
	Rev uint64
	Run subjects.Run
}

// watcher follows the jetcron-runs bucket for the whole scenario, so that the
// checker sees how each run's record moved (the bucket keeps one revision per key).
// It reconnects through faults; revisions written while it was cut off may be missed,
// but what it sees is in revision order.
type watcher struct {
	nc *nats.Conn
	js jetstream.JetStream

	mu      sync.Mutex
	history map[string][]Observed
	errs    int
}

// connect connects to the cluster as user u (on a secure cluster: u's credentials and
// the CA).
func connect(c *cluster.Cluster, u cluster.User) (*nats.Conn, jetstream.JetStream, error) {
	opts := []nats.Option{nats.MaxReconnects(-1), nats.RetryOnFailedConnect(true),
		nats.ReconnectWait(200 * time.Millisecond), nats.Timeout(time.Second), nats.Name("jetcron-e2e")}
	if c.Secure() {
		opts = append(opts, nats.RootCAs(c.CA()))
		if creds := c.Creds(u); creds != "" {
			opts = append(opts, nats.UserCredentials(creds))
		}
	}
	nc, err := nats.Connect(c.URL(), opts...)
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
}

// startWatcher follows the run records as the reader (on a secure cluster).
func startWatcher(ctx context.Context, c *cluster.Cluster) (*watcher, error) {
	nc, js, err := connect(c, cluster.Reader)
	if err != nil {
		return nil, err
	}
	w := &watcher{nc: nc, js: js, history: map[string][]Observed{}}
	go w.loop(ctx)
	return w, nil
}

func (w *watcher) loop(ctx context.Context) {
	var last uint64
	for ctx.Err() == nil {
		err := w.watchOnce(ctx, &last)
		if ctx.Err() != nil {
			return
		}
		w.mu.Lock()
		w.errs++
		w.mu.Unlock()
		_ = err
		t := time.NewTimer(300 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func (w *watcher) watchOnce(ctx context.Context, last *uint64) error {
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	kv, err := w.js.KeyValue(cctx, subjects.RunStateBucket)
	cancel()
	if err != nil {
		return err
	}
	var opts []jetstream.WatchOpt
	if *last > 0 {
		opts = append(opts, jetstream.ResumeFromRevision(*last+1))
	}
	kw, err := kv.WatchAll(ctx, opts...)
	if err != nil {
		return err
	}
	defer kw.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e, ok := <-kw.Updates():
			if !ok {
				return errors.New("watch ended")
			}
			if e == nil || e.Operation() != jetstream.KeyValuePut {
				continue
			}
			*last = e.Revision()
			var r subjects.Run
			if json.Unmarshal(e.Value(), &r) != nil {
				continue
			}
			w.mu.Lock()
			w.history[e.Key()] = append(w.history[e.Key()], Observed{Rev: e.Revision(), Run: r})
			w.mu.Unlock()
		}
	}
}

// History returns what was observed of every run, by key.
func (w *watcher) History() map[string][]Observed {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string][]Observed, len(w.history))
	for k, v := range w.history {
		out[k] = append([]Observed(nil), v...)
	}
	return out
}

// alloc is the allocation allocID of the run runID as the watcher saw it last; nil
// if it has not seen it.
func (w *watcher) alloc(runID, allocID string) *subjects.Allocation {
	key, err := subjects.RunKeyOf(runID)
	if err != nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	h := w.history[key]
	if len(h) == 0 {
		return nil
	}
	r := h[len(h)-1].Run
	for i := range r.Allocations {
		if r.Allocations[i].ID == allocID {
			a := r.Allocations[i]
			return &a
		}
	}
	return nil
}

func (w *watcher) Close() { w.nc.Close() }

// snapshot reads every run record now, by key.
func (w *watcher) snapshot(ctx context.Context) (map[string]Observed, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	kv, err := w.js.KeyValue(ctx, subjects.RunStateBucket)
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", subjects.RunStateBucket, err)
	}
	// What the stream's leader holds, to tell a read that is whole from one answered
	// while the stream was still recovering (just after a whole-cluster restart, a
	// watch's initial values can end early).
	status, err := kv.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", subjects.RunStateBucket, err)
	}
	bs, ok := status.(*jetstream.KeyValueBucketStatus)
	if !ok {
		return nil, fmt.Errorf("bucket %s: status of type %T", subjects.RunStateBucket, status)
	}
	last := bs.StreamInfo().State.LastSeq
	kw, err := kv.WatchAll(ctx)
	if err != nil {
		return nil, err
	}
	defer kw.Stop()
	out := map[string]Observed{}
	var newest uint64
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("read %s: %w", subjects.RunStateBucket, ctx.Err())
		case e := <-kw.Updates():
			if e == nil {
				if newest < last {
					return nil, fmt.Errorf("read %s up to revision %d of %d: not whole yet", subjects.RunStateBucket, newest, last)
				}
				return out, nil
			}
			newest = max(newest, e.Revision())
			if e.Operation() != jetstream.KeyValuePut {
				continue
			}
			var r subjects.Run
			if err := json.Unmarshal(e.Value(), &r); err != nil {
				return nil, fmt.Errorf("run record %s: %w", e.Key(), err)
			}
			out[e.Key()] = Observed{Rev: e.Revision(), Run: r}
		}
	}
}
