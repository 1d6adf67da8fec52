package ticker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetcron/jetcron/subjects"
)

// stepDownLoop keeps the leadership of the streams the ticker writes to, and of the
// runners' consumers, off this server while it holds the lock.
func (t *Ticker) stepDownLoop(ctx context.Context) {
	streams := []string{
		subjects.KVStream(subjects.LockBucket), subjects.KVStream(subjects.RunStateBucket),
		subjects.KVStream(subjects.JobStateBucket), subjects.RunsStream,
		// Placement needs the nodes' heartbeats to land.
		subjects.KVStream(subjects.NodesBucket),
		// The holder reads the job changes its watch may lack from this stream's
		// leader before every decision (the lag rule).
		subjects.KVStream(subjects.JobsBucket),
	}
	// A write in flight while its stream's leadership moves goes unanswered until
	// it times out (5 s): the first pass waits out the burst of writes a term starts
	// with (catch-up), and every pass comes half-way between two seconds, away from
	// the ticks' writes. Then every second, so that the new holder's server leads
	// nothing for long (it may be the next to die), then every 5 s to catch
	// leaderships that move back.
	// A pass waits while launches wait for their claims (a burst): an election then
	// stalls every claim in flight, for up to maxStepDownDelay, after which the
	// server's leaderships move anyway.
	wait := firstStepDownAfter
	var busySince time.Time
	for i := 0; ; {
		timer := t.opts.Clock.NewTimer(betweenTicks(t.opts.Clock.Now(), wait))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		wait = time.Second
		if now := t.opts.Clock.Now(); t.launching(ctx, now) {
			if busySince.IsZero() {
				busySince = now
			}
			if now.Sub(busySince) < maxStepDownDelay {
				continue
			}
		}
		busySince = time.Time{}
		for _, name := range streams {
			t.stepDown(ctx, name)
		}
		if i++; i > 10 {
			wait = 5 * time.Second
		}
	}
}

// firstStepDownAfter is how long into a term the leaderships first move.
const firstStepDownAfter = 3 * time.Second

// maxStepDownDelay bounds how long a busy cluster delays the step-downs.
const maxStepDownDelay = 30 * time.Second

// launching reports whether runs are being launched: a runner's consumer holds
// launches not yet acknowledged and delivered one within deliveredWithin before now.
// A runner acknowledges a launch once its claim is decided, within milliseconds on a
// healthy cluster, so only a burst leaves some half-way between two seconds; the
// consumer of a runner that is gone keeps its launches but delivers none. Run
// records written by runs that end are no sign: jobs of many lengths end at any
// time, and a cluster that waited for those would keep its leaderships on the
// holder's server. An error reading counts as quiet.
func (t *Ticker) launching(ctx context.Context, now time.Time) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	s, err := t.opts.JS.Stream(ctx, subjects.RunsStream)
	if err != nil {
		return false
	}
	consumers := s.ListConsumers(ctx)
	for c := range consumers.Info() {
		last := c.Delivered.Last
		if strings.HasPrefix(c.Name, subjects.DurableName("")) && c.NumPending+uint64(c.NumAckPending) > 0 &&
			last != nil && now.Sub(*last) < deliveredWithin {
			return true
		}
	}
	return false
}

// deliveredWithin is how recent a runner consumer's last delivery must be for its
// unacknowledged launches to count as a burst under way.
const deliveredWithin = 5 * time.Second

// betweenTicks returns how long from now until half-way between two seconds, at
// least after from now.
func betweenTicks(now time.Time, after time.Duration) time.Duration {
	at := now.Add(after).Truncate(time.Second).Add(time.Second / 2)
	if at.Before(now.Add(after)) {
		at = at.Add(time.Second)
	}
	return at.Sub(now)
}

// stepDown asks the stream's leader, and that of each of its consumers, to hand its
// leadership to a healthy replica where it is this server.
func (t *Ticker) stepDown(ctx context.Context, stream string) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	s, err := t.opts.JS.Stream(ctx, stream)
	if err != nil {
		return
	}
	if to := t.stepDownTarget(s.CachedInfo().Cluster); to != "" {
		t.request(ctx, subjects.StreamStepDownAPI(stream), to, stream)
	}
	consumers := s.ListConsumers(ctx)
	for c := range consumers.Info() {
		if to := t.stepDownTarget(c.Cluster); to != "" {
			t.request(ctx, subjects.ConsumerStepDownAPI(stream, c.Name), to, stream+" > "+c.Name)
		}
	}
}

// stepDownTarget names the replica to hand the group's leadership to when this
// server leads it ("" when it does not, or no replica is fit): the most recently
// heard of among those that are current and online. Raft, left to choose, may pick
// any peer it heard of in the last 3 s, such as the previous holder's server just
// killed, which would leave the group without a leader until an election: what the
// step-down is meant to avoid. Naming a healthy one also moves the leadership while
// another peer is down.
func (t *Ticker) stepDownTarget(c *jetstream.ClusterInfo) string {
	if c == nil || c.Leader != t.opts.Name {
		return ""
	}
	best, bestActive := "", time.Duration(0)
	for _, r := range c.Replicas {
		if !r.Current || r.Offline || r.Active > time.Second {
			continue
		}
		if best == "" || r.Active < bestActive {
			best, bestActive = r.Name, r.Active
		}
	}
	return best
}

// request asks for a step-down in favour of the server named to.
func (t *Ticker) request(ctx context.Context, subject, to, what string) {
	body := fmt.Sprintf(`{"placement":{"preferred":%q}}`, to)
	msg, err := t.opts.Conn.RequestWithContext(ctx, subject, []byte(body))
	if err == nil {
		var resp struct {
			Error *struct {
				Description string `json:"description"`
			} `json:"error"`
		}
		if json.Unmarshal(msg.Data, &resp) == nil && resp.Error != nil {
			err = errors.New(resp.Error.Description)
		}
	}
	if err != nil {
		t.log.Debug().Err(err).Str("group", what).Str("to", to).Msg("leader step-down failed")
		return
	}
	t.log.Info().Str("group", what).Str("to", to).Msg("asked leadership to move off the ticker's server")
}
