package ticker

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetcron/jetcron/internal/buckettest"
	"github.com/jetcron/jetcron/subjects"
)

func TestLeadershipsMoveHalfWayBetweenTwoSecondsAfterTheWait(t *testing.T) {
	base := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		now   time.Duration // after base
		after time.Duration
		want  time.Duration
	}{
		{0, 3 * time.Second, 3500 * time.Millisecond},
		{200 * time.Millisecond, time.Second, 1300 * time.Millisecond},
		{500 * time.Millisecond, time.Second, time.Second},
		{700 * time.Millisecond, time.Second, 1800 * time.Millisecond},
		{900 * time.Millisecond, 5 * time.Second, 5600 * time.Millisecond},
	} {
		if got := betweenTicks(base.Add(c.now), c.after); got != c.want {
			t.Errorf("betweenTicks(+%s, %s) = %s, want %s", c.now, c.after, got, c.want)
		}
	}
}

func TestLeadershipsWaitWhileARunnerIsDeliveredLaunchesNotYetAcknowledged(t *testing.T) {
	env := buckettest.New(t)
	ctx := t.Context()
	tk := &Ticker{opts: Options{JS: env.JS}}
	// Run records written (runs ending at any time) are no sign of a burst.
	if _, err := env.Buckets.Runs.Put(ctx, "j.periodic-1", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if tk.launching(ctx, time.Now()) {
		t.Fatal("a cluster with no launches counts as launching")
	}
	stream, err := env.JS.Stream(ctx, subjects.RunsStream)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable: subjects.DurableName("a"), FilterSubject: subjects.LaunchFilter("a"), AckPolicy: jetstream.AckExplicitPolicy,
	})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := env.JS.Publish(ctx, subjects.LaunchSubject("a", "j"), []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	if tk.launching(ctx, time.Now()) {
		t.Fatal("launches of a runner that takes none (a runner gone) count")
	}
	take := func() {
		t.Helper()
		batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if err := (<-batch.Messages()).DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
	}
	take()
	if !tk.launching(ctx, time.Now()) {
		t.Fatal("a launch still to deliver to a runner that just took one does not count")
	}
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tk.launching(ctx, info.Delivered.Last.Add(deliveredWithin)) {
		t.Fatal("a launch left with a runner that took none for deliveredWithin counts")
	}
	take()
	if tk.launching(ctx, time.Now()) {
		t.Fatal("acknowledged launches still count")
	}
}
