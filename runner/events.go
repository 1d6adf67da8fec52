package runner

import (
	"context"
	"encoding/json"
	"time"

	"github.com/rs/zerolog"

	"github.com/jetcron/jetcron/subjects"
)

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
