package notify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/jetcron/jetcron/internal/buckettest"
	"github.com/jetcron/jetcron/notify"
	"github.com/jetcron/jetcron/operator"
	"github.com/jetcron/jetcron/subjects"
)

// receiver is a local webhook that records every notification by run ID and
// outcome, and can hold the first request until told to answer.
type receiver struct {
	mu       sync.Mutex
	got      map[string][]notify.Payload // key: run_id + " " + outcome
	agents   []string                    // User-Agent of each request, in order
	first    chan string                 // gets the first request's User-Agent
	release  chan struct{}               // closed: the first request is answered 503
	heldOnce sync.Once
}

func newReceiver(t *testing.T) (*receiver, *httptest.Server) {
	r := &receiver{got: map[string][]notify.Payload{}, first: make(chan string, 1), release: make(chan struct{})}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		held := false
		r.heldOnce.Do(func() { held = true })
		if held {
			r.first <- req.UserAgent()
			<-r.release
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		var p notify.Payload
		if err := json.NewDecoder(req.Body).Decode(&p); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.got[p.RunID+" "+p.Outcome] = append(r.got[p.RunID+" "+p.Outcome], p)
		r.agents = append(r.agents, req.UserAgent())
		r.mu.Unlock()
	}))
	t.Cleanup(func() {
		r.heldOnce.Do(func() {})
		select {
		case <-r.release:
		default:
			close(r.release)
		}
		s.Close()
	})
	return r, s
}

func (r *receiver) payload(key string) (notify.Payload, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ps := r.got[key]
	if len(ps) == 0 {
		return notify.Payload{}, false
	}
	return ps[0], true
}

func TestEveryFailedRunIsNotifiedThoughTheDeliveringServerIsKilled(t *testing.T) {
	env := buckettest.NewCluster(t, 3)
	c, admin, b := env.Cluster, env.JS, env.Buckets
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	recv, hook := newReceiver(t)
	spec := fmt.Sprintf("periodic: {cron: \"@hourly\"}\ntask: {config: {command: /bin/false}}\nnotify:\n  - on: [failed, lost, skipped, recovered]\n    webhook: %s/hook\n", hook.URL)
	if _, err := b.Jobs.Put(ctx, "backup", []byte(spec)); err != nil {
		t.Fatal(err)
	}

	// A notifier per server, each on a connection to its own server only: killing
	// the server also ends its notifier, as a SIGKILL of the agent would.
	stops := make([]context.CancelFunc, 3)
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	for i := range 3 {
		nc := c.ConnectTo(t, i)
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		n, err := notify.New(notify.Options{
			JS: js, Client: operator.New(nc, js, fmt.Sprint("s", i)), Name: fmt.Sprint("s", i),
			Logger:  zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.DebugLevel),
			BaseURL: "http://jetcron.test:4646", AckWait: 2 * time.Second, Backoff: []time.Duration{100 * time.Millisecond},
		})
		if err != nil {
			t.Fatal(err)
		}
		runCtx, stop := context.WithCancel(ctx)
		stops[i] = stop
		t.Cleanup(stop)
		wg.Add(1)
		go func() { defer wg.Done(); _ = n.Run(runCtx) }()
	}
	for {
		// Each look has its own timeout: one sent while the new consumer elects its
		// leader is never answered.
		lookCtx, cancelLook := context.WithTimeout(ctx, 2*time.Second)
		_, err := admin.Consumer(lookCtx, subjects.RunsStream, subjects.NotifyDurable)
		cancelLook()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the notifiers made no consumer")
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Ten failed runs, one skipped tick, then a success: a recovery.
	const failures = 10
	base := int64(1_800_000_000)
	// retry repeats a write while the cluster elects new leaders after the kill.
	retry := func(what string, fn func(ctx context.Context) error) {
		t.Helper()
		for {
			tryCtx, cancel := context.WithTimeout(ctx, time.Second)
			err := fn(tryCtx)
			cancel()
			if err == nil {
				return
			}
			if ctx.Err() != nil {
				t.Fatalf("%s: %v", what, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	publish := func(ev subjects.Event, run subjects.Run) {
		t.Helper()
		rec, _ := json.Marshal(run)
		retry("put run", func(ctx context.Context) error {
			_, err := b.Runs.Put(ctx, subjects.RunKey(run.Job, time.Unix(run.Scheduled, 0)), rec)
			return err
		})
		data, _ := json.Marshal(ev)
		msgID := ev.RunID + "/" + string(ev.State)
		retry("publish event", func(ctx context.Context) error {
			_, err := admin.Publish(ctx, subjects.EventSubject(ev.Job), data, jetstream.WithMsgID(msgID))
			return err
		})
	}
	for i := range failures {
		tick := base + int64(i)*3600
		id := subjects.RunID("backup", time.Unix(tick, 0))
		publish(subjects.Event{RunID: id, Job: "backup", State: subjects.StateFailed, Node: "web-1", ExitCode: ptr(1), Reason: "exit status 1", Time: time.Now()},
			subjects.Run{ID: id, Job: "backup", Scheduled: tick, State: subjects.StateFailed,
				Allocations: []subjects.Allocation{{ID: "a", Node: "web-1", State: subjects.StateFailed, ExitCode: ptr(1), Error: "exit status 1"}}})
		if i == 0 {
			// The first delivery is held; kill the server delivering it.
			var agent string
			select {
			case agent = <-recv.first:
			case <-time.After(10 * time.Second):
				cons, err := admin.Consumer(ctx, subjects.RunsStream, subjects.NotifyDurable)
				if err != nil {
					t.Fatal(err)
				}
				info, err := cons.Info(ctx)
				t.Fatalf("no delivery: %v %+v %+v", err, info.Config, *info)
			}
			var killed int
			if _, err := fmt.Sscanf(agent, "jetcron/s%d", &killed); err != nil {
				t.Fatalf("User-Agent %q", agent)
			}
			stops[killed]()
			c.Kill(killed)
			close(recv.release)
		}
	}
	skippedTick := base + failures*3600
	skippedID := subjects.RunID("backup", time.Unix(skippedTick, 0))
	publish(subjects.Event{RunID: skippedID, Job: "backup", State: subjects.StateSkipped, Reason: "no eligible node", Time: time.Now()},
		subjects.Run{ID: skippedID, Job: "backup", Scheduled: skippedTick, State: subjects.StateSkipped, Reason: "no eligible node"})
	okTick := skippedTick + 3600
	okID := subjects.RunID("backup", time.Unix(okTick, 0))
	publish(subjects.Event{RunID: okID, Job: "backup", State: subjects.StateComplete, Node: "web-2", ExitCode: ptr(0), Time: time.Now()},
		subjects.Run{ID: okID, Job: "backup", Scheduled: okTick, State: subjects.StateComplete,
			Allocations: []subjects.Allocation{{ID: "b", Node: "web-2", State: subjects.StateComplete, ExitCode: ptr(0)}}})

	want := []string{skippedID + " skipped", okID + " recovered"}
	for i := range failures {
		want = append(want, subjects.RunID("backup", time.Unix(base+int64(i)*3600, 0))+" failed")
	}
	for _, key := range want {
		for {
			if _, ok := recv.payload(key); ok {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("never notified: %s", key)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	p, _ := recv.payload(subjects.RunID("backup", time.Unix(base, 0)) + " failed")
	if p.Job != "backup" || p.Node != "web-1" || p.ExitCode == nil || *p.ExitCode != 1 || p.Reason != "exit status 1" ||
		p.Scheduled == nil || p.Scheduled.Unix() != base || p.URL != "http://jetcron.test:4646/v1/run/backup/periodic-1800000000" ||
		p.Text != "jetcron: backup/periodic-1800000000 failed on web-1 (exit code 1): exit status 1" {
		t.Errorf("payload of the first failure: %+v", p)
	}
	if p, _ := recv.payload(skippedID + " skipped"); !strings.Contains(p.Text, "skipped: no eligible node") {
		t.Errorf("skipped text: %q", p.Text)
	}
	if _, ok := recv.payload(okID + " complete"); ok {
		t.Error("complete was notified though no webhook asked for it")
	}
}

func ptr[T any](v T) *T { return &v }
