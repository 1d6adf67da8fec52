package ticker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/jetcron/jetcron/embed/embedtest"
	"github.com/jetcron/jetcron/subjects"
)

// provisionedCluster starts a 3-server cluster with jetcron's buckets and streams,
// and returns a context for the test that ends after timeout; in -short mode it
// skips the test.
func provisionedCluster(tb testing.TB, timeout time.Duration) (context.Context, *embedtest.Cluster, jetstream.JetStream, *subjects.Buckets) {
	tb.Helper()
	if testing.Short() {
		tb.Skip("integration test: starts NATS servers")
	}
	ctx, cancel := context.WithTimeout(tb.Context(), timeout)
	tb.Cleanup(cancel)
	c := embedtest.NewCluster(tb, 3)
	js, err := jetstream.New(c.Connect(tb))
	if err != nil {
		tb.Fatal(err)
	}
	if err := subjects.Provision(ctx, js, subjects.DefaultLayout(3, 2*time.Second)); err != nil {
		tb.Fatal(err)
	}
	buckets, err := subjects.Bind(ctx, js)
	if err != nil {
		tb.Fatal(err)
	}
	return ctx, c, js, buckets
}

func TestChangesAndRecordsAreReadFromTheBucketsLeaders(t *testing.T) {
	ctx, _, js, b := provisionedCluster(t, time.Minute)
	put := func(key, value string) uint64 {
		rev, err := b.Jobs.Put(ctx, key, []byte(value))
		if err != nil {
			t.Fatal(err)
		}
		return rev
	}
	first := put("a", "v1")
	put("b", "v1")
	a2 := put("a", "v2")
	if err := b.Jobs.Delete(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	store := &jsStore{js: js, buckets: b, log: zerolog.Nop()}
	changes, err := store.JobChangesAfter(ctx, first, 10)
	if err != nil {
		t.Fatalf("read the changes after revision %d: %v", first, err)
	}
	var got []string
	for _, ch := range changes {
		got = append(got, ch.Key+":"+string(ch.Value)+":"+map[bool]string{true: "deleted", false: "put"}[ch.Deleted])
		if ch.Written.IsZero() || ch.Rev <= first {
			t.Fatalf("change %+v: want its time and a revision after %d", ch, first)
		}
	}
	if want := []string{"b:v1:put", "a:v2:put", "b::deleted"}; !slices.Equal(got, want) {
		t.Fatalf("changes after revision %d: %v, want %v", first, got, want)
	}
	if changes[1].Rev != a2 {
		t.Fatalf("a's change has revision %d, want %d", changes[1].Rev, a2)
	}
	if more, err := store.JobChangesAfter(ctx, changes[2].Rev, 10); err != nil || len(more) != 0 {
		t.Fatalf("changes after the newest: %v, %v; want none", more, err)
	}
	if one, err := store.JobChangesAfter(ctx, first, 1); err != nil || len(one) != 1 {
		t.Fatalf("changes with limit 1: %v, %v; want one", one, err)
	}
	run := &subjects.Run{ID: "a/periodic-1", Job: "a", Scheduled: 1, State: subjects.StateQueued}
	runRev, err := store.CreateRun(ctx, "a.1", run)
	if err != nil {
		t.Fatal(err)
	}
	if got, rev, err := store.GetRun(ctx, "a.1"); err != nil || rev != runRev || got.ID != run.ID {
		t.Fatalf("run read from the leader: %+v at %d, %v; want %s at %d", got, rev, err, run.ID, runRev)
	}
	if _, _, err := store.GetRun(ctx, "a.2"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("a run with no record read as %v, want %v", err, jetstream.ErrKeyNotFound)
	}
	if runs, err := store.RunChangesAfter(ctx, 0, 10); err != nil || len(runs) != 1 || runs[0].Key != "a.1" || runs[0].Rev != runRev {
		t.Fatalf("run changes: %+v, %v; want a.1 at %d", runs, err, runRev)
	}
	if last, err := store.RunsLastRevision(ctx); err != nil || last != runRev {
		t.Fatalf("runs bucket's last revision: %d, %v; want %d", last, err, runRev)
	}
}

func TestJobChangesAreReadCurrentThroughAServerJustBackFromAPartition(t *testing.T) {
	ctx, c, js, b := provisionedCluster(t, time.Minute)
	first, err := b.Jobs.Put(ctx, "a", []byte("v1"))
	if err != nil {
		t.Fatal(err)
	}
	info, err := js.Stream(ctx, subjects.KVStream(b.Jobs.Bucket()))
	if err != nil {
		t.Fatal(err)
	}
	leader := c.Index(info.CachedInfo().Cluster.Leader)
	behind, other := (leader+1)%3, (leader+2)%3
	// A client of the server that is about to fall behind, and one of the majority.
	behindJS, err := jetstream.New(c.ConnectTo(t, behind, nats.MaxReconnects(-1)))
	if err != nil {
		t.Fatal(err)
	}
	majority, err := jetstream.New(c.ConnectTo(t, other, nats.MaxReconnects(-1)))
	if err != nil {
		t.Fatal(err)
	}
	store := &jsStore{js: behindJS, buckets: b, log: zerolog.Nop()}
	if _, err := store.JobChangesAfter(ctx, 0, 1); err != nil { // looks the stream up
		t.Fatal(err)
	}
	c.Isolate(behind)
	time.Sleep(6 * time.Second) // past the election timeout: it notices it is cut off
	kv, err := majority.KeyValue(ctx, b.Jobs.Bucket())
	if err != nil {
		t.Fatal(err)
	}
	var want []uint64
	for _, v := range []string{"v2", "v3"} {
		rev, err := kv.Put(ctx, "a", []byte(v))
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, rev)
	}
	c.Rejoin(t, behind)
	// As a new lock holder does: read again after a failure, and trust the first
	// answer.
	var changes []Change
	deadline := time.Now().Add(10 * time.Second)
	for {
		rctx, cancel := context.WithTimeout(ctx, 250*time.Millisecond)
		changes, err = store.JobChangesAfter(rctx, first, 10)
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("read through the server back from the partition: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var got []uint64
	for _, ch := range changes {
		got = append(got, ch.Rev)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("changes after revision %d read through the server back from the partition: revisions %v, want %v", first, got, want)
	}
}

func TestJobChangesAreReadFromAReplicaButNotAsAuthoritativeWhileTheJobsStreamHasNoLeader(t *testing.T) {
	ctx, c, js, b := provisionedCluster(t, time.Minute)
	first, err := b.Jobs.Put(ctx, "a", []byte("v1"))
	if err != nil {
		t.Fatal(err)
	}
	second, err := b.Jobs.Put(ctx, "a", []byte("v2"))
	if err != nil {
		t.Fatal(err)
	}
	store := &jsStore{js: js, buckets: b, log: zerolog.Nop()}
	if _, err := store.JobChangesAfter(ctx, 0, 1); err != nil { // looks the stream up
		t.Fatal(err)
	}
	// Replicas answer direct gets once they are current, which each checks every 2 s.
	var info *jetstream.StreamInfo
	deadline := time.Now().Add(30 * time.Second)
	for {
		jobs, err := store.stream(ctx, subjects.KVStream(subjects.JobsBucket))
		if err != nil {
			t.Fatal(err)
		}
		if info, err = jobs.Info(ctx); err != nil {
			t.Fatal(err)
		}
		current := len(info.Cluster.Replicas) == 2
		for _, r := range info.Cluster.Replicas {
			current = current && r.Current
		}
		if current {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the jobs stream's replicas are not current: %+v", info.Cluster)
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(2500 * time.Millisecond)
	c.Kill(c.Index(info.Cluster.Leader)) // its peers elect a new leader only after seconds

	rctx, rcancel := context.WithTimeout(ctx, time.Second)
	changes, err := store.JobChangesAfter(rctx, first, 10)
	rcancel()
	if !errors.Is(err, errNotAuthoritative) {
		t.Fatalf("read while the jobs stream has no leader: %v; want %v", err, errNotAuthoritative)
	}
	if len(changes) != 1 || changes[0].Rev != second || string(changes[0].Value) != "v2" {
		t.Fatalf("changes read from a replica: %+v; want v2 at revision %d", changes, second)
	}
}

// After a runs checkpoint, the watch sends of the run records only their changes after
// it (those the bucket keeps: the newest of each key), never the checkpoint as a
// job's state, and is ready once it has caught up.
func TestTheWatchSendsOnlyTheRunChangesAfterTheCheckpoint(t *testing.T) {
	ctx, _, js, b := provisionedCluster(t, time.Minute)
	store := &jsStore{js: js, buckets: b, log: zerolog.Nop()}
	if rev, err := store.Checkpoint(ctx); err != nil || rev != 0 {
		t.Fatalf("checkpoint of a new cluster: %d, %v; want 0", rev, err)
	}
	put := func(key, state string) uint64 {
		rev, err := b.Runs.Put(ctx, key, []byte(`{"state":"`+state+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		return rev
	}
	for i := range 50 {
		put(fmt.Sprintf("old.%d", i), "complete")
	}
	at := put("open.1", "running")
	if err := store.PutCheckpoint(ctx, at); err != nil {
		t.Fatal(err)
	}
	if err := store.PutJobState(ctx, "open", &subjects.JobState{Job: "open", Open: []string{"open.1"}}); err != nil {
		t.Fatal(err)
	}
	if rev, err := store.Checkpoint(ctx); err != nil || rev != at {
		t.Fatalf("checkpoint: %d, %v; want %d", rev, err, at)
	}
	put("new.1", "queued")
	put("new.1", "running")
	put("new.2", "queued")
	out := make(chan Change, 1024)
	ready, err := store.Watch(ctx, out, at)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-ready:
	case <-ctx.Done():
		t.Fatal("the watch was never ready")
	}
	var got []string
	for len(out) > 0 {
		c := <-out
		switch c.Kind {
		case RunChanged:
			got = append(got, c.Key+":"+string(c.Value))
		case JobStateChanged:
			if c.Key == subjects.CheckpointKey {
				t.Error("the checkpoint was sent as a job state")
			}
		}
	}
	if want := []string{`new.1:{"state":"running"}`, `new.2:{"state":"queued"}`}; !slices.Equal(got, want) {
		t.Fatalf("run changes sent: %v, want %v", got, want)
	}
}
