// Package eventpub publishes run events to the runs stream for the runners and the
// ticker: without ever blocking the run or tick that made one, without dropping
// one, each stored once, in the order they were made unless the stream failed to
// acknowledge one (that one is published again, after later ones).
package eventpub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/jetcron/jetcron/subjects"
)

const (
	// inFlight is how many events may await their acknowledgement at once: enough
	// for thousands a second, few enough that a burst's events do not crowd out its
	// claims and the lock's renewals. With 256, a 1,000-run burst changed the lock's
	// holder twice and started 1.78x slower than spawning; with 16, 0 times and
	// 1.34x (BENCHMARKS.md).
	inFlight = 16
	// ackTimeout bounds each wait for an event's acknowledgement.
	ackTimeout = 2 * time.Second
	// DrainTimeout is what the runners and the ticker give Close at shutdown: how long
	// the events not yet acknowledged may still take.
	DrainTimeout = 5 * time.Second
	// retryPause separates the publications again of an unacknowledged event.
	retryPause = 200 * time.Millisecond
)

// Publisher queues events and publishes them from one goroutine (Run). Its queue
// has no bound: a failed run's event may be its only notification, and a burst of
// runs ends faster than the cluster stores their events one at a time. The events
// a node holds are bounded by the runs it made, each of which already cost the
// cluster more than its events.
type Publisher struct {
	js  jetstream.JetStream
	log zerolog.Logger

	mu       sync.Mutex
	items    []subjects.Event
	closed   bool
	deadline time.Time     // set by Close: when the last confirmations give up
	ready    chan struct{} // holds a signal while items or closed are new
	done     chan struct{} // closed when Run returns
}

// New returns a publisher on js; nothing is published until Run.
func New(js jetstream.JetStream, log zerolog.Logger) *Publisher {
	return &Publisher{js: js, log: log, ready: make(chan struct{}, 1), done: make(chan struct{})}
}

// Publish queues ev; it never blocks. Publishing after Close is the caller's bug
// and panics.
func (p *Publisher) Publish(ev subjects.Event) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		panic("eventpub: event published after Close")
	}
	p.items = append(p.items, ev)
	p.mu.Unlock()
	p.signal()
}

// Close stops taking events and waits until Run has published every event queued,
// giving those not yet acknowledged at most drain from now. Run must have been
// started.
func (p *Publisher) Close(drain time.Duration) {
	p.mu.Lock()
	p.closed, p.deadline = true, time.Now().Add(drain)
	p.mu.Unlock()
	p.signal()
	<-p.done
}

func (p *Publisher) signal() {
	select {
	case p.ready <- struct{}{}:
	default:
	}
}

// take waits for queued events and returns all of them, oldest first; ok is false
// once the publisher is closed and its queue empty.
func (p *Publisher) take() (evs []subjects.Event, ok bool) {
	for {
		p.mu.Lock()
		evs, p.items = p.items, nil
		closed := p.closed
		p.mu.Unlock()
		if len(evs) > 0 || closed {
			return evs, len(evs) > 0
		}
		<-p.ready
	}
}

// sent is an event published without waiting for its acknowledgement.
type sent struct {
	ev  subjects.Event
	at  time.Time // when it was published: its acknowledgement is awaited from then
	msg *nats.Msg
	ack jetstream.PubAckFuture // nil when the publication failed at once
	err error
}

// Run publishes queued events until Close, up to inFlight awaiting their
// acknowledgement at once, in the order queued. An event whose acknowledgement
// fails or does not come is published again (confirm); its message ID makes that a
// no-op where an earlier one was stored.
func (p *Publisher) Run() {
	defer close(p.done)
	pending := make(chan sent, inFlight)
	confirmed := make(chan struct{})
	go func() {
		defer close(confirmed)
		for s := range pending {
			p.confirm(s)
		}
	}()
	for {
		evs, ok := p.take()
		if !ok {
			break
		}
		for _, ev := range evs {
			data, err := json.Marshal(&ev)
			if err != nil {
				p.log.Error().Err(err).Str("job", ev.Job).Str("run_id", ev.RunID).Msg("encode event")
				continue
			}
			s := sent{ev: ev, at: time.Now(), msg: &nats.Msg{Subject: subjects.EventSubject(ev.Job), Data: data, Header: nats.Header{}}}
			s.msg.Header.Set(jetstream.MsgIDHeader, MsgID(&ev))
			s.ack, s.err = p.js.PublishMsgAsync(s.msg)
			pending <- s
		}
	}
	close(pending)
	<-confirmed
}

// confirm waits for s's acknowledgement and, while there is none, publishes s again
// and waits for that one: until the event is stored or, after Close, its deadline
// passed. Later events wait meanwhile (at most inFlight of them published), so an
// outage of the runs stream delays events and loses none.
func (p *Publisher) confirm(s sent) {
	err := s.err
	if err == nil {
		timer := time.NewTimer(time.Until(p.waitUntil(s.at)))
		select {
		case <-s.ack.Ok():
			timer.Stop()
			return
		case err = <-s.ack.Err():
			timer.Stop()
		case <-timer.C:
			err = errors.New("no acknowledgement")
		}
	}
	log := p.log.With().Str("job", s.ev.Job).Str("run_id", s.ev.RunID).Str("alloc", s.ev.AllocID).
		Str("state", string(s.ev.State)).Logger()
	log.Warn().Err(err).Msg("run event not acknowledged; publishing it again until it is")
	for attempt := 2; ; attempt++ {
		ctx, cancel := context.WithDeadline(context.Background(), p.waitUntil(time.Now()))
		_, err = p.js.PublishMsg(ctx, s.msg)
		cancel()
		if err == nil {
			log.Info().Int("attempt", attempt).Msg("run event published")
			return
		}
		if p.pastDeadline() {
			log.Warn().Err(err).Int("attempt", attempt).Msg("run event not published before shutdown")
			return
		}
		time.Sleep(retryPause) // a publication with no stream leader fails at once
	}
}

// pastDeadline reports whether Close's deadline has passed.
func (p *Publisher) pastDeadline() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.deadline.IsZero() && !time.Now().Before(p.deadline)
}

// waitUntil bounds the wait for the acknowledgement of a publication made at:
// ackTimeout after it, and after Close no later than its deadline. The events in
// flight were published together, and their waits overlap.
func (p *Publisher) waitUntil(at time.Time) time.Time {
	until := at.Add(ackTimeout)
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.deadline.IsZero() && p.deadline.Before(until) {
		return p.deadline
	}
	return until
}

// MsgID names one event of one execution (or of one tick, for the ticker's), so
// that the runs stream stores it once however often it is published within the
// stream's duplicate window.
func MsgID(ev *subjects.Event) string {
	return fmt.Sprintf("%s/%s/%s/%d", ev.RunID, ev.AllocID, ev.State, ev.Restart)
}
