package runner

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/jetcron/jetcron/subjects"
)

// Timeouts of the runner's own NATS calls.
const (
	// opTimeout bounds one KV read or write.
	opTimeout = 5 * time.Second
	// claimTimeout bounds the whole claim of one launch, retries included; the
	// launch is redelivered when the claim could not be decided.
	claimTimeout = 15 * time.Second
	// outcomeTimeout bounds the recording of a run's outcome, retries included.
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
	// eventQueue is how many events may wait for publication.
	eventQueue = 1024
	// eventTimeout bounds the publication of one event.
	eventTimeout = 2 * time.Second
	// eventsDrainTimeout bounds the publication of the last events at shutdown.
	eventsDrainTimeout = 5 * time.Second
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

	nodes, runs, logs jetstream.KeyValue

	// sem bounds the runs executing at once.
	sem chan struct{}
	// events queues events for the publisher goroutine.
	events chan subjects.Event
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
		events:   make(chan subjects.Event, eventQueue),
		fenceNow: make(chan struct{}, 1),
		execs:    make(map[string]*execution),
	}
	s.attrs = s.member.PlacementAttrs()
	s.runsCtx, s.killRuns = context.WithCancelCause(context.Background())
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
	evDone, draining := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(evDone)
		s.publishEvents(draining)
	}()

	s.consume(ctx, cons)
	s.stop()
	stopHB()
	bg.Wait()
	close(draining)
	close(s.events)
	<-evDone
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
		{subjects.NodesBucket, &s.nodes}, {subjects.RunStateBucket, &s.runs}, {subjects.LogsBucket, &s.logs},
	} {
		kv, err := s.opts.JS.KeyValue(octx, b.name)
		if err != nil {
			return nil, fmt.Errorf("bind bucket %s: %w", b.name, err)
		}
		*b.kv = kv
	}
	return s.createConsumer(octx)
}

func (s *session) consumerConfig() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       subjects.DurableName(s.opts.Name),
		Description:   "jetcron runner of node " + s.opts.Name,
		FilterSubject: subjects.LaunchFilter(s.opts.Name),
		AckPolicy:     jetstream.AckExplicitPolicy,
		DeliverPolicy: jetstream.DeliverNewPolicy,
		AckWait:       ackWait,
		MaxAckPending: maxAckPendingFactor * s.opts.MaxParallel,
	}
}

func (s *session) createConsumer(ctx context.Context) (jetstream.Consumer, error) {
	cfg := s.consumerConfig()
	cons, err := s.opts.JS.CreateOrUpdateConsumer(ctx, subjects.RunsStream, cfg)
	if err != nil {
		return nil, fmt.Errorf("create consumer %s on stream %s: %w", cfg.Durable, subjects.RunsStream, err)
	}
	return cons, nil
}

// consume delivers launches to handle until ctx is done, and makes the consumer
// again whenever consuming stops on its own (the consumer was deleted).
func (s *session) consume(ctx context.Context, cons jetstream.Consumer) {
	wait := 250 * time.Millisecond
	for {
		if cons == nil {
			octx, cancel := context.WithTimeout(ctx, opTimeout)
			c, err := s.createConsumer(octx)
			cancel()
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				s.log.Warn().Err(err).Dur("retry_in_ms", wait).Msg("consumer lost; retrying")
				if !sleepCtx(ctx, wait) {
					return
				}
				wait = min(2*wait, maxBackoff)
				continue
			}
			cons = c
		}
		check := make(chan struct{}, 1)
		cc, err := cons.Consume(func(msg jetstream.Msg) { s.onLaunch(ctx, msg) },
			jetstream.PullMaxMessages(maxAckPendingFactor*s.opts.MaxParallel),
			// Short pulls (idle heartbeats at half of it) notice a consumer whose
			// leader died within seconds, not the default 30 s.
			jetstream.PullExpiry(2*time.Second),
			jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
				s.log.Debug().Err(err).Msg("consume error")
				select {
				case check <- struct{}{}:
				default:
				}
			}))
		if err != nil {
			s.log.Warn().Err(err).Dur("retry_in_ms", wait).Msg("consume failed; retrying")
			cons = nil
			if !sleepCtx(ctx, wait) {
				return
			}
			wait = min(2*wait, maxBackoff)
			continue
		}
		s.log.Debug().Str("durable", s.consumerConfig().Durable).Msg("consuming launches")
		if s.consumeUntil(ctx, cons, cc, check) {
			return
		}
		cons = nil
		if !sleepCtx(ctx, wait) {
			return
		}
		wait = min(2*wait, maxBackoff)
	}
}

// consumeUntil waits until ctx is done (true) or consuming stopped (false). On a
// consume error it checks that the consumer still exists, and stops consuming if
// not, so that consume makes it again. When ctx is done it drains: the launches
// already fetched reach onLaunch, which gives them back at once (nak) instead of
// leaving them to their ack wait.
func (s *session) consumeUntil(ctx context.Context, cons jetstream.Consumer, cc jetstream.ConsumeContext, check <-chan struct{}) bool {
	stop := func(end func()) {
		end()
		select {
		case <-cc.Closed():
		case <-time.After(2 * time.Second):
		}
	}
	for {
		select {
		case <-ctx.Done():
			stop(cc.Drain)
			return true
		case <-cc.Closed():
			s.log.Warn().Msg("consuming stopped; making the consumer again")
			return false
		case <-check:
			octx, cancel := context.WithTimeout(ctx, opTimeout)
			_, err := cons.Info(octx)
			cancel()
			if errors.Is(err, jetstream.ErrConsumerNotFound) {
				s.log.Warn().Msg("consumer deleted; making it again")
				stop(cc.Stop)
				return false
			}
		}
	}
}

// onLaunch is the Consume callback: it hands the launch to its own goroutine.
func (s *session) onLaunch(ctx context.Context, msg jetstream.Msg) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		_ = msg.Nak()
		return
	}
	s.handlers.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.handlers.Done()
		s.handle(ctx, msg)
	}()
}

// handle decides one delivered launch: it waits for a free slot, claims the run,
// acks the message, and executes the run if the claim was won.
func (s *session) handle(ctx context.Context, msg jetstream.Msg) {
	var l subjects.Launch
	if err := json.Unmarshal(msg.Data(), &l); err != nil || l.RunID == "" || l.AllocID == "" {
		s.log.Error().Err(err).Str("subject", msg.Subject()).Msg("malformed launch; dropped")
		_ = msg.Term()
		return
	}
	log := s.log.With().Str("job", l.Job).Str("run_id", l.RunID).Str("alloc", l.AllocID).Logger()
	key, err := subjects.RunKeyOf(l.RunID)
	if err != nil {
		log.Error().Err(err).Msg("malformed launch; dropped")
		_ = msg.Term()
		return
	}
	if !s.acquire(ctx, msg) {
		_ = msg.Nak() // shutting down: another runner of this node may take it
		return
	}
	var once sync.Once
	release := func() { once.Do(func() { <-s.sem }) }
	defer release()

	c, decided := s.claim(ctx, key, &l, log)
	if !decided {
		log.Warn().Msg("claim undecided; launch will be redelivered")
		_ = msg.NakWithDelay(time.Second)
		return
	}
	if err := msg.Ack(); err != nil {
		log.Debug().Err(err).Msg("ack launch")
	}
	if c == nil {
		return
	}
	s.execute(s.runsCtx, key, &l, c, release, log)
}

// acquire waits for a free execution slot, telling the server the launch is in
// progress meanwhile. It returns false when ctx is done first.
func (s *session) acquire(ctx context.Context, msg jetstream.Msg) bool {
	if ctx.Err() != nil {
		return false
	}
	select {
	case s.sem <- struct{}{}:
		return true
	default:
	}
	t := time.NewTicker(ackWait / 3)
	defer t.Stop()
	for {
		select {
		case s.sem <- struct{}{}:
			if ctx.Err() != nil {
				<-s.sem
				return false
			}
			return true
		case <-ctx.Done():
			return false
		case <-t.C:
			_ = msg.InProgress()
		}
	}
}

// claimed is a won claim: the record as written, and its revision.
type claimed struct {
	run     subjects.Run
	rev     uint64
	started time.Time
}

// claim moves the launch's allocation from queued to running with a revision-checked
// update from the revision the launch was placed at, written from the record the
// launch carries (no read first). It returns the claim (nil when the launch must be
// discarded: claimed elsewhere, re-placed, or not ours) and whether the claim was
// decided at all (false when NATS kept failing).
func (s *session) claim(ctx context.Context, key string, l *subjects.Launch, log zerolog.Logger) (*claimed, bool) {
	var run subjects.Run
	if err := json.Unmarshal(l.Run, &run); err != nil {
		log.Error().Err(err).Msg("launch discarded: its run record is unreadable")
		return nil, true
	}
	if why := s.unclaimable(&run, l); why != "" {
		log.Debug().Msg("launch discarded: " + why)
		return nil, true
	}
	now := s.opts.Clock.Now().UTC()
	cur := run.Current()
	cur.State = subjects.StateRunning
	cur.Started = &now
	cur.NodeID = s.nodeID
	cur.Session = s.member.Session
	run.State = subjects.StateRunning
	data, err := json.Marshal(&run)
	if err != nil {
		log.Error().Err(err).Msg("launch discarded: encode run record")
		return nil, true
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), claimTimeout)
	defer cancel()
	timedOut := false // a write whose outcome is unknown
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		octx, ocancel := context.WithTimeout(cctx, opTimeout)
		rev, err := s.runs.Update(octx, key, data, l.Revision)
		ocancel()
		switch {
		case err == nil:
			return &claimed{run: run, rev: rev, started: now}, true
		case isRevisionConflict(err) && timedOut:
			return s.claimOutcome(cctx, key, data, l, log)
		case isRevisionConflict(err):
			log.Debug().Err(err).Msg("launch discarded: claimed elsewhere or re-placed")
			return nil, true
		}
		log.Debug().Err(err).Msg("claim: update run record")
		timedOut = true
		if !sleepCtx(cctx, wait) {
			return nil, false
		}
	}
}

// unclaimable says why the launch's record cannot be claimed here ("" if it can).
func (s *session) unclaimable(run *subjects.Run, l *subjects.Launch) string {
	cur := run.Current()
	switch {
	case run.ID != l.RunID:
		return "its record is another run's (" + run.ID + ")"
	case cur == nil || cur.ID != l.AllocID:
		return "its allocation is not the run's current one"
	case cur.Node != s.opts.Name:
		return "its allocation is node " + cur.Node + "'s"
	case cur.State != subjects.StateQueued:
		return "its allocation is " + string(cur.State) + ", not queued"
	}
	return ""
}

// claimOutcome tells, after a claim write timed out and its retry conflicted, whether
// the write that timed out had succeeded: the record then holds exactly data.
func (s *session) claimOutcome(ctx context.Context, key string, data []byte, l *subjects.Launch, log zerolog.Logger) (*claimed, bool) {
	for {
		entry, err := getEntry(ctx, s.runs, key)
		switch {
		case err == nil && entry.Revision() > l.Revision:
			if string(entry.Value()) == string(data) {
				if c, err := decodeClaim(entry.Value(), entry.Revision()); err == nil {
					return c, true // the write that timed out had succeeded
				}
			}
			log.Debug().Msg("launch discarded: claimed elsewhere or re-placed")
			return nil, true
		case err == nil, errors.Is(err, jetstream.ErrKeyNotFound):
			// A stale read: KV gets may be served by a replica that lags behind.
			log.Debug().Msg("claim: stale read of run record; reading again")
		default:
			log.Debug().Err(err).Msg("claim: read run record")
		}
		if !sleepCtx(ctx, staleReadWait) {
			return nil, false
		}
	}
}

func decodeClaim(data []byte, rev uint64) (*claimed, error) {
	var run subjects.Run
	if err := json.Unmarshal(data, &run); err != nil {
		return nil, err
	}
	cur := run.Current()
	if cur == nil || cur.Started == nil {
		return nil, errors.New("no started allocation")
	}
	return &claimed{run: run, rev: rev, started: *cur.Started}, nil
}

// getEntry reads key with a per-try timeout.
func getEntry(ctx context.Context, kv jetstream.KeyValue, key string) (jetstream.KeyValueEntry, error) {
	octx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	return kv.Get(octx, key)
}

// heartbeatLoop writes the node record now and every HeartbeatInterval until ctx
// is done, and asks the fence loop to check the runs after each heartbeat.
func (s *session) heartbeatLoop(ctx context.Context) {
	t := s.opts.Clock.NewTimer(0)
	defer t.Stop()
	registered := false
	failing := false
	// A heartbeat later than half the TTL is as good as none: the node is about to
	// count as down. When they fail that long, the server this runner is connected to
	// is likely cut off from its peers (it still answers, so the client never notices):
	// move to another one.
	patience := s.opts.HeartbeatTTL / 2
	lastOK := s.opts.Clock.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		hctx, cancel := context.WithTimeout(ctx, patience)
		err := s.heartbeat(hctx, false)
		cancel()
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil:
			if !failing {
				s.log.Warn().Err(err).Msg("heartbeat failed")
			} else {
				s.log.Debug().Err(err).Msg("heartbeat failed")
			}
			failing = true
			if now := s.opts.Clock.Now(); now.Sub(lastOK) >= patience {
				s.reconnectElsewhere(now.Sub(lastOK))
				lastOK = now // give the new server as long
			}
		case !registered:
			s.log.Info().Str("node_id", s.nodeID).Bool("drain", s.drain).Msg("node registered")
			registered, failing = true, false
			lastOK = s.opts.Clock.Now()
		default:
			if failing {
				s.log.Info().Msg("heartbeat recovered")
			}
			failing = false
			lastOK = s.opts.Clock.Now()
		}
		select {
		case s.fenceNow <- struct{}{}:
		default:
		}
		t.Reset(s.opts.HeartbeatInterval)
	}
}

// reconnectElsewhere drops the connection's server for the next one of its list,
// when it knows another.
func (s *session) reconnectElsewhere(failingFor time.Duration) {
	nc := s.opts.Conn
	if len(nc.Servers()) < 2 {
		return
	}
	s.log.Warn().Str("server", nc.ConnectedUrlRedacted()).Dur("failing_for_ms", failingFor).
		Msg("heartbeats fail through this server; reconnecting to another")
	if err := nc.ForceReconnect(); err != nil {
		s.log.Debug().Err(err).Msg("reconnect")
	}
}

// deregister marks the node as left.
func (s *session) deregister() {
	for attempt := 0; attempt < 3; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		err := s.heartbeat(ctx, true)
		cancel()
		if err == nil {
			s.log.Info().Msg("node deregistered")
			return
		}
		s.log.Warn().Err(err).Msg("deregister node")
	}
}

// publishEvents publishes queued events until the queue is closed. Once draining
// is closed (shutdown), the events still queued get at most eventsDrainTimeout.
func (s *session) publishEvents(draining <-chan struct{}) {
	var deadline time.Time
	for ev := range s.events {
		data, err := json.Marshal(&ev)
		if err != nil {
			s.log.Error().Err(err).Msg("encode event")
			continue
		}
		if deadline.IsZero() {
			select {
			case <-draining:
				deadline = time.Now().Add(eventsDrainTimeout)
			default:
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
		if !deadline.IsZero() {
			cancel()
			ctx, cancel = context.WithDeadline(context.Background(), deadline)
		}
		_, err = s.opts.JS.Publish(ctx, subjects.EventSubject(ev.Job), data)
		cancel()
		if err != nil {
			s.log.Warn().Err(err).Str("job", ev.Job).Str("run_id", ev.RunID).Str("alloc", ev.AllocID).
				Str("state", string(ev.State)).Msg("publish event")
		}
	}
}

// event queues ev for publication without ever blocking: events must not slow runs.
func (s *session) event(ev subjects.Event, log zerolog.Logger) {
	select {
	case s.events <- ev:
	default:
		log.Warn().Str("state", string(ev.State)).Msg("event queue full; event dropped")
	}
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
