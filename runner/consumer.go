package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetcron/jetcron/subjects"
)

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
	runLog := s.log.With().Str("job", l.Job).Str("run_id", l.RunID).Logger()
	log := runLog.With().Str("alloc", l.AllocID).Logger()
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

	a, decided := s.claim(ctx, key, &l, log)
	if !decided {
		log.Warn().Msg("claim undecided; launch will be redelivered")
		_ = msg.NakWithDelay(time.Second)
		return
	}
	if err := msg.Ack(); err != nil {
		log.Debug().Err(err).Msg("ack launch")
	}
	if a == nil {
		return
	}
	s.execute(s.runsCtx, key, &l, a, release, runLog)
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
