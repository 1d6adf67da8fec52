package subjects_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetcron/jetcron/embed/embedtest"
	"github.com/jetcron/jetcron/subjects"
)

func TestProvisionRacingOnThreeServersCreatesEachBucketOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts NATS servers")
	}
	c := embedtest.NewCluster(t, 3)
	layout := subjects.DefaultLayout(3, 2*time.Second)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	start := make(chan struct{})
	for i := range c.Servers {
		js, err := jetstream.New(c.ConnectTo(t, i))
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			// As the agent does: retry while JetStream places the new streams.
			for {
				if errs[i] = subjects.Provision(ctx, js, layout); errs[i] == nil || ctx.Err() != nil {
					return
				}
				time.Sleep(200 * time.Millisecond)
			}
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("server %d: %v", i, err)
		}
	}
	js, err := jetstream.New(c.Connect(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	want := map[string]bool{layout.Stream().Name: true}
	for _, b := range layout.Buckets() {
		want["KV_"+b.Bucket] = true
	}
	names := js.StreamNames(ctx)
	got := map[string]int{}
	for name := range names.Name() {
		got[name]++
	}
	if err := names.Err(); err != nil {
		t.Fatal(err)
	}
	for name := range want {
		if got[name] != 1 {
			t.Fatalf("stream %s exists %d times; streams: %v", name, got[name], got)
		}
		s, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if r := s.CachedInfo().Config.Replicas; r != 3 {
			t.Fatalf("stream %s has %d replicas, want 3", name, r)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("streams %v, want exactly %v", got, want)
	}
}

// A server started with another run history changes how long an existing cluster
// keeps run records, their output and the runs stream; the lock's TTL stays.
func TestProvisionAppliesAChangedRunHistoryToAnExistingCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts NATS servers")
	}
	c := embedtest.NewCluster(t, 1)
	js, err := jetstream.New(c.Connect(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	layout := subjects.DefaultLayout(1, 2*time.Second)
	if err := subjects.Provision(ctx, js, layout); err != nil {
		t.Fatal(err)
	}
	layout.History, layout.LockTTL = 30*24*time.Hour, time.Second
	if err := subjects.Provision(ctx, js, layout); err != nil {
		t.Fatalf("provision with another history: %v", err)
	}
	for name, want := range map[string]time.Duration{
		subjects.KVStream(subjects.RunStateBucket): layout.History,
		subjects.KVStream(subjects.LogsBucket):     layout.History,
		subjects.RunsStream:                        layout.History,
		subjects.KVStream(subjects.LockBucket):     2 * time.Second,
		subjects.KVStream(subjects.JobsBucket):     0,
	} {
		st, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.CachedInfo().Config.MaxAge; got != want {
			t.Errorf("stream %s keeps messages for %v, want %v", name, got, want)
		}
	}
}
