package eventpub_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/jetcron/jetcron/internal/buckettest"
	"github.com/jetcron/jetcron/internal/eventpub"
	"github.com/jetcron/jetcron/subjects"
)

func event(i int) subjects.Event {
	return subjects.Event{RunID: fmt.Sprint("burst/periodic-", 1_800_000_000+i), Job: "burst",
		State: subjects.StateComplete, Node: "web-1", AllocID: fmt.Sprint("a", i), Time: time.Unix(int64(i), 0)}
}

// stored reads the job's events from the runs stream and checks that they are the
// events 0..n-1 of event, once each, and in that order when ordered.
func stored(t *testing.T, js jetstream.JetStream, n int, ordered bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var cons jetstream.Consumer
	var err error
	for cons == nil { // a request sent while the cluster elects goes unanswered
		tryCtx, cancelTry := context.WithTimeout(ctx, 5*time.Second)
		cons, err = js.OrderedConsumer(tryCtx, subjects.RunsStream, jetstream.OrderedConsumerConfig{
			FilterSubjects: []string{subjects.EventSubject("burst")}})
		cancelTry()
		if ctx.Err() != nil {
			t.Fatalf("read the events: %v", err)
		}
	}
	seen := map[string]bool{}
	for i := range n {
		msg, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		for err != nil && ctx.Err() == nil { // the ordered consumer recovers itself
			msg, err = cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		}
		if err != nil {
			t.Fatalf("event %d of %d: %v", i, n, err)
		}
		var ev subjects.Event
		if err := json.Unmarshal(msg.Data(), &ev); err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprint("a", i); ordered && ev.AllocID != want {
			t.Fatalf("event %d is of %s, want %s", i, ev.AllocID, want)
		}
		if seen[ev.AllocID] {
			t.Fatalf("event of %s stored twice", ev.AllocID)
		}
		seen[ev.AllocID] = true
	}
	if msg, err := cons.Next(jetstream.FetchMaxWait(time.Second)); err == nil {
		t.Fatalf("an event more than published: %s", msg.Data())
	}
}

// A burst ends runs faster than one publication at a time can follow: every event
// is stored once, in the order published, and one published twice (the same
// execution's same state) is stored once. The runner's queue used to hold 1,024
// events and drop the rest: a 10,000-run burst dropped 15,642 events, failures'
// notifications among them.
func TestEveryEventOfABurstIsStoredOnceInTheOrderPublished(t *testing.T) {
	env := buckettest.New(t)
	p := eventpub.New(env.JS, zerolog.New(zerolog.NewTestWriter(t)))
	const n = 5000
	for i := range n {
		p.Publish(event(i))
	}
	p.Publish(event(0))
	go p.Run()
	p.Close(time.Minute)
	stored(t, env.JS, n, true)
}

// Events published while the runs stream's leader is killed and another is elected
// are all stored, once each: an event with no acknowledgement is published again
// until it is stored (after later ones, which did not wait for it).
func TestEventsPublishedThroughAnElectionOfTheRunsStreamAreAllStored(t *testing.T) {
	env := buckettest.NewCluster(t, 3)
	c, admin := env.Cluster, env.JS
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	runs, err := admin.Stream(ctx, subjects.RunsStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := runs.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	leader := c.Index(info.Cluster.Leader)
	// The publisher's connection is to a server that stays.
	js, err := jetstream.New(c.ConnectTo(t, (leader+1)%3))
	if err != nil {
		t.Fatal(err)
	}
	p := eventpub.New(js, zerolog.New(zerolog.NewTestWriter(t)))
	go p.Run()
	const n = 3000
	for i := range n {
		p.Publish(event(i))
		if i == n/3 {
			c.Kill(leader)
		}
		if i%100 == 0 {
			time.Sleep(10 * time.Millisecond) // spread over the election
		}
	}
	p.Close(time.Minute)
	stored(t, admin, n, false)
}
