package runner

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/jetcron/jetcron/internal/eventpub"
	"github.com/jetcron/jetcron/subjects"
)

// Timeouts of the runner's own NATS calls.
const (
	// opTimeout bounds one KV read or write.
	opTimeout = 5 * time.Second
	// claimTimeout bounds the whole claim of one launch, retries included; the
	// launch is redelivered when the claim could not be decided.
	claimTimeout = 15 * time.Second
	// outcomeTimeout bounds the storing of a run's output, and the recording of its
	// outcome once the runner's stop began (recordCtx); it is also how often a write
	// still failing is logged at warn.
	outcomeTimeout = 30 * time.Second
	// ackWait is the consumer's AckWait: a launch is acked once its claim is decided.
	ackWait = 30 * time.Second
	// maxAckPendingFactor times MaxParallel launches may be delivered unacked.
	maxAckPendingFactor = 4
	// maxBackoff caps the waits between retries of setup and of the consumer.
	maxBackoff = 5 * time.Second
	// staleReadWait is the wait before reading again a KV entry older than one this
	// runner knows was written: gets are served by any replica (direct gets), and a
	// follower may lag behind the leader for a moment.
	staleReadWait = 10 * time.Millisecond
)

// session is one Run of a Runner: everything that lives from Run's start to its end.
type session struct {
	opts    Options
	log     zerolog.Logger
	nodeID  string
	rawExec bool
	policy  policy
	// member is the static part of the node record; attrs its placement attributes.
	member subjects.Member
	attrs  map[string]string

	nodes, runs jetstream.KeyValue

	// sem bounds the runs executing at once.
	sem chan struct{}
	// events publishes the run events of this session.
	events *eventpub.Publisher
	// fenceNow asks the fence loop to check the executing runs (after a heartbeat).
	fenceNow chan struct{}

	// Heartbeat state, owned by the heartbeat loop (and deregister after it): the
	// revision to update from (0: read it first), the newest revision known to
	// exist (older reads are stale), and the drain flag last read.
	hbRev, hbKnown uint64
	drain          bool

	mu       sync.Mutex
	closing  bool
	handlers sync.WaitGroup
	execs    map[string]*execution

	stopper
}

func newSession(r *Runner, nodeID string) *session {
	o := r.opts
	rawExec := rawExecEnabled(o.ClientOptions)
	pol, _ := parsePolicy(o.ClientOptions) // New checked it
	s := &session{
		policy:  pol,
		opts:    o,
		log:     r.log,
		nodeID:  nodeID,
		rawExec: rawExec,
		member: subjects.Member{
			ID: nodeID, Name: o.Name, Datacenter: o.Datacenter, Class: o.Class, Session: newSessionID(),
			Build: o.Version, Attributes: nodeAttributes(o.Version, rawExec), Meta: o.Meta,
			TTL: subjects.MillisOf(o.HeartbeatTTL),
		},
		sem:      make(chan struct{}, o.MaxParallel),
		events:   eventpub.New(o.JS, r.log),
		fenceNow: make(chan struct{}, 1),
		execs:    make(map[string]*execution),
	}
	s.attrs = s.member.PlacementAttrs()
	s.runsCtx, s.killRuns = context.WithCancelCause(context.Background())
	s.stopBegun = make(chan struct{})
	return s
}

func (s *session) run(ctx context.Context) error {
	s.log.Info().Str("node_id", s.nodeID).Bool("raw_exec", s.rawExec).Int("max_parallel", s.opts.MaxParallel).
		Msg("runner starting")
	cons, ok := s.setup(ctx)
	if !ok {
		s.log.Info().Msg("runner stopped before it was ready")
		return nil
	}

	// The consumer exists, so no launch placed after the first heartbeat can be
	// missed. Heartbeats (and the fencing of runs) go on after ctx is done, until
	// the runs executing here are stopped and recorded: the node must not look dead
	// while they still run.
	hbCtx, stopHB := context.WithCancel(context.WithoutCancel(ctx))
	defer stopHB()
	var bg sync.WaitGroup
	bg.Go(func() { s.heartbeatLoop(hbCtx) })
	bg.Go(func() { s.fenceLoop(hbCtx) })
	go s.events.Run()

	s.consume(ctx, cons)
	s.stop()
	stopHB()
	bg.Wait()
	s.events.Close(eventpub.DrainTimeout)
	s.deregister()
	if err := s.opts.Conn.FlushTimeout(opTimeout); err != nil {
		s.log.Debug().Err(err).Msg("flush connection")
	}
	s.log.Info().Msg("runner stopped")
	return nil
}

// setup binds the buckets and creates the durable consumer, retrying until it
// succeeds or ctx is done (servers may still be electing leaders, or provisioning).
func (s *session) setup(ctx context.Context) (jetstream.Consumer, bool) {
	for wait := 250 * time.Millisecond; ; wait = min(2*wait, maxBackoff) {
		cons, err := s.trySetup(ctx)
		if err == nil {
			return cons, true
		}
		if ctx.Err() != nil {
			return nil, false
		}
		s.log.Warn().Err(err).Dur("retry_in_ms", wait).Msg("runner setup failed; retrying")
		if !sleepCtx(ctx, wait) {
			return nil, false
		}
	}
}

func (s *session) trySetup(ctx context.Context) (jetstream.Consumer, error) {
	octx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	for _, b := range []struct {
		name string
		kv   *jetstream.KeyValue
	}{
		{subjects.NodesBucket, &s.nodes}, {subjects.RunStateBucket, &s.runs},
		// Output tails are stored with publishes that carry a header: bound only to
		// wait until the bucket is provisioned.
		{subjects.LogsBucket, new(jetstream.KeyValue)},
	} {
		kv, err := s.opts.JS.KeyValue(octx, b.name)
		if err != nil {
			return nil, fmt.Errorf("bind bucket %s: %w", b.name, err)
		}
		*b.kv = kv
	}
	return s.createConsumer(octx)
}

// getEntry reads key with a per-try timeout.
func getEntry(ctx context.Context, kv jetstream.KeyValue, key string) (jetstream.KeyValueEntry, error) {
	octx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	return kv.Get(octx, key)
}

// sleepCtx waits d or until ctx is done; it reports whether d elapsed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// newSessionID names one start of the runner process (16 hex digits).
func newSessionID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
