package operator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/jetcron/jetcron/subjects"
)

// BackfillTimeout bounds the wait for the ticker's answer to a backfill: it answers
// once every tick's record was written, up to subjects.BackfillForcedLimit of them.
const BackfillTimeout = 2 * time.Minute

// BackfillQuery asks for the ticks of Job in [From, To]; Force allows more than
// subjects.BackfillLimit of them.
type BackfillQuery struct {
	Job      string
	From, To time.Time
	Force    bool
}

// Check refuses, naming the argument, what the ticker would refuse too; Backfill
// calls it too.
func (q BackfillQuery) Check(now time.Time) error {
	switch {
	case q.From.IsZero() || q.To.IsZero():
		return invalidf("-from and -to are both required")
	case q.From.After(q.To):
		return invalidf("-from %s is after -to %s", q.From.UTC().Format(time.RFC3339), q.To.UTC().Format(time.RFC3339))
	case q.To.After(now):
		return invalidf("-to %s is in the future: backfill launches past ticks only", q.To.UTC().Format(time.RFC3339))
	}
	return nil
}

// Backfill asks the lock holder's ticker to launch each tick of the query's range
// that has no run record yet, once, and returns what it did. Asking again launches
// nothing new; after a timeout it is safe to ask again. It returns ErrNoTicker when
// no ticker answers, and the ticker's refusal (a range over the limit) as an error
// that is ErrInvalid.
func (c *Client) Backfill(ctx context.Context, now time.Time, q BackfillQuery) (*subjects.BackfillReply, error) {
	if err := q.Check(now); err != nil {
		return nil, err
	}
	if err := c.JobExists(ctx, q.Job); err != nil {
		return nil, err
	}
	body, err := json.Marshal(subjects.BackfillRequest{From: q.From.Unix(), To: q.To.Unix(), Force: q.Force})
	if err != nil {
		return nil, fmt.Errorf("encode backfill request: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, BackfillTimeout)
	defer cancel()
	msg, err := c.nc.RequestWithContext(ctx, subjects.ForceSubject(q.Job), body)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return nil, ErrNoTicker
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return nil, fmt.Errorf("backfill %q: no answer within %s; the ticker may still be launching: asking again launches only what is missing", q.Job, BackfillTimeout)
	case err != nil:
		return nil, fmt.Errorf("backfill %q: %w", q.Job, err)
	}
	var reply subjects.ForceReply
	if err := json.Unmarshal(msg.Data, &reply); err != nil {
		return nil, fmt.Errorf("backfill %q: unreadable answer from the ticker: %w", q.Job, err)
	}
	switch {
	case reply.Error != "":
		return nil, invalidf("backfill %q: %s", q.Job, reply.Error)
	case reply.Backfill == nil:
		return nil, fmt.Errorf("backfill %q: the ticker gave no backfill answer (is it an older version?)", q.Job)
	}
	return reply.Backfill, nil
}
