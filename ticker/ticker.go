// Package ticker is jetcron's scheduler. It runs in every server agent; the one that
// holds the ticker lock decides what happens to each job's ticks, places each run on
// an eligible node and publishes its launch. The files, by concern:
//
//   - decide.go: the decision, a pure function from one job's facts to what happens
//     to its ticks; every scheduling rule is stated there once.
//   - dispatcher.go: the loop around it and the lag rule; term.go: a term's start;
//     mirror.go: what every server keeps of the buckets; writes.go: the leader's
//     writes; sweep.go: runs after their launch (lost, re-placed, rescheduled).
//   - election.go: the lock; stepdown.go: stream leaderships kept off the holder.
//   - store.go, jsstore.go: the buckets, and reads from their streams' leaders.
package ticker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/jetcron/jetcron/clock"
	"github.com/jetcron/jetcron/internal/eventpub"
	"github.com/jetcron/jetcron/subjects"
)

// Options configure a Ticker.
type Options struct {
	// Conn is the agent's connection; JS its JetStream context. Both required.
	Conn *nats.Conn
	JS   jetstream.JetStream
	// Name is this server's name, written into the lock as its holder. Required.
	Name string
	// Clock is the time source; default clock.Real{}.
	Clock clock.Clock
	// Logger receives the ticker's logs; default a disabled logger.
	Logger *zerolog.Logger
	// StepDown, when true (the default for servers), asks JetStream to move the
	// leadership of every stream the ticker writes to away from this server while it
	// holds the lock, so that its death costs no Raft election on the launch path.
	StepDown bool
	// RunsPerJob caps the run records kept of each job (server.runs_per_job); 0 keeps
	// every record the runs bucket's age limit keeps.
	RunsPerJob int
}

// Ticker campaigns for the ticker lock and, while it holds it, dispatches launches.
type Ticker struct {
	opts     Options
	store    *jsStore
	election *election
	log      zerolog.Logger
}

// New checks the options.
func New(opts Options) (*Ticker, error) {
	if opts.Conn == nil || opts.JS == nil {
		return nil, errors.New("ticker: Options.Conn and Options.JS are required")
	}
	if opts.Name == "" {
		return nil, errors.New("ticker: Options.Name is required")
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	log := zerolog.Nop()
	if opts.Logger != nil {
		log = opts.Logger.With().Str("component", "ticker").Str("node", opts.Name).Logger()
	}
	return &Ticker{opts: opts, log: log}, nil
}

// bind looks up the buckets, retrying while JetStream elects their leaders (right
// after they were made, or after a restart).
func (t *Ticker) bind(ctx context.Context) error {
	for attempt := 1; ; attempt++ {
		err := t.tryBind(ctx)
		if err == nil || ctx.Err() != nil {
			return err
		}
		if attempt%5 == 0 {
			t.log.Warn().Err(err).Msg("buckets not reachable yet; retrying")
		}
		timer := t.opts.Clock.NewTimer(500 * time.Millisecond)
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-timer.C:
		}
	}
}

func (t *Ticker) tryBind(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	buckets, err := subjects.Bind(ctx, t.opts.JS)
	if err != nil {
		return err
	}
	status, err := buckets.Lock.Status(ctx)
	if err != nil {
		return fmt.Errorf("lock bucket: %w", err)
	}
	if status.TTL() <= 0 {
		return fmt.Errorf("bucket %s has no TTL; the lock would never expire", subjects.LockBucket)
	}
	t.store = &jsStore{js: t.opts.JS, buckets: buckets, log: t.log, events: eventpub.New(t.opts.JS, t.log)}
	t.election = newElection(buckets.Lock, t.opts.Name, status.TTL(), t.opts.Clock, t.log)
	return nil
}

// Run keeps a standby dispatcher current, campaigns for the lock, and leads while it
// holds it, term after term, until ctx ends; then it releases the lock so another
// server takes over at once.
func (t *Ticker) Run(ctx context.Context) error {
	if err := t.bind(ctx); err != nil {
		return nil // ctx ended
	}
	// Deferred first, so that it runs last: the dispatcher publishes no more events.
	go t.store.events.Run()
	defer t.store.events.Close(eventpub.DrainTimeout)
	terms := make(chan leaseView)
	force := make(chan forceRequest)
	d := newDispatcher(t.store, t.opts.Clock, t.log)
	d.runsPerJob = t.opts.RunsPerJob
	dispatched := make(chan struct{})
	go func() {
		defer close(dispatched)
		_ = d.run(ctx, terms, force)
	}()
	defer func() { <-dispatched }()
	// The lock's watch runs from the start, so that a standby knows the revision to
	// take over, and since when, as soon as it campaigns.
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		t.election.watch(ctx)
	}()
	defer func() { <-watched }()
	// Campaign only with every job, node and active run known: a server that has just
	// started would otherwise hold the lock while it reads them all, instead of a
	// standby that leads at once.
	select {
	case <-d.loadedSignal():
	case <-ctx.Done():
		return nil
	}
	for {
		l, err := t.election.campaign(ctx)
		if err != nil {
			return nil // ctx ended
		}
		t.log.Info().Uint64("lock_revision", l.Rev()).Msg("ticker lock won")
		if err := t.term(ctx, l, terms, force); err != nil {
			t.log.Error().Err(err).Msg("ticker term ended with an error")
		}
		if ctx.Err() != nil {
			releaseCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			l.release(releaseCtx)
			cancel()
			t.log.Info().Msg("ticker lock released")
			return nil
		}
		t.log.Warn().Msg("ticker lock lost")
	}
}

// term is one leadership term: keep the lease, hand it to the dispatcher, answer
// force and backfill requests, until the lease is lost or ctx ends.
func (t *Ticker) term(ctx context.Context, l *lease, terms chan<- leaseView, force chan<- forceRequest) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go l.keep(ctx)
	if t.opts.StepDown {
		go t.stepDownLoop(ctx)
	}
	select {
	case terms <- l:
	case <-ctx.Done():
		return nil
	}
	sub, err := t.opts.Conn.Subscribe(subjects.ForceSubjects, func(m *nats.Msg) {
		job, err := subjects.JobFromForceSubject(m.Subject)
		reply := func(r subjects.ForceReply) {
			data, _ := json.Marshal(r)
			_ = m.Respond(data)
		}
		if err != nil {
			reply(subjects.ForceReply{Error: err.Error()})
			return
		}
		req := forceRequest{job: job, reply: reply}
		if len(m.Data) > 0 {
			req.backfill = &subjects.BackfillRequest{}
			if err := json.Unmarshal(m.Data, req.backfill); err != nil {
				reply(subjects.ForceReply{Error: "unreadable backfill request: " + err.Error()})
				return
			}
		}
		select {
		case force <- req:
		case <-ctx.Done():
		}
	})
	if err != nil {
		return fmt.Errorf("subscribe to force requests: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	select {
	case <-l.Lost():
	case <-ctx.Done():
	}
	return nil
}
