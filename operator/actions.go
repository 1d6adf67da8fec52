package operator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetcron/jetcron/subjects"
)

// ForceTimeout bounds the wait for the ticker's answer to a force request.
const ForceTimeout = 5 * time.Second

// ErrNoTicker is returned by Force when no ticker answers: none holds the lock.
var ErrNoTicker = errors.New("no ticker holds the lock: is a quorum of jetcron servers up?")

// Submit stores a job file under name in the jobs bucket and returns its revision.
// The caller validates the file first; the ticker judges it again.
func (c *Client) Submit(ctx context.Context, name string, data []byte) (uint64, error) {
	kv, err := c.Bucket(ctx, subjects.JobsBucket)
	if err != nil {
		return 0, err
	}
	rev, err := kv.Put(ctx, name, data)
	if err != nil {
		return 0, fmt.Errorf("store job %q: %w", name, err)
	}
	return rev, nil
}

// JobExists returns an error wrapping ErrNotFound unless job is in the jobs bucket.
func (c *Client) JobExists(ctx context.Context, name string) error {
	if !ValidKey(name) {
		return fmt.Errorf("job %q %w", name, ErrNotFound)
	}
	kv, err := c.Bucket(ctx, subjects.JobsBucket)
	if err != nil {
		return err
	}
	if _, err := kv.Get(ctx, name); errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("job %q %w", name, ErrNotFound)
	} else if err != nil {
		return fmt.Errorf("read job %q: %w", name, err)
	}
	return nil
}

// Stop deletes job from the jobs bucket: no new run launches; runs already running
// go on to their end. The error wraps ErrNotFound when there is no such job.
func (c *Client) Stop(ctx context.Context, name string) error {
	if err := c.JobExists(ctx, name); err != nil {
		return err
	}
	kv, err := c.Bucket(ctx, subjects.JobsBucket)
	if err != nil {
		return err
	}
	if err := kv.Delete(ctx, name); err != nil {
		return fmt.Errorf("delete job %q: %w", name, err)
	}
	return nil
}

// Force asks the lock holder's ticker to launch a run of job now, and returns its
// answer: the run's ID, why it was skipped, or its error. It waits at most
// ForceTimeout, and returns ErrNoTicker when no ticker answers.
func (c *Client) Force(ctx context.Context, name string) (*subjects.ForceReply, error) {
	if err := c.JobExists(ctx, name); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, ForceTimeout)
	defer cancel()
	msg, err := c.nc.RequestWithContext(ctx, subjects.ForceSubject(name), nil)
	switch {
	case errors.Is(err, nats.ErrNoResponders), errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return nil, ErrNoTicker
	case err != nil:
		return nil, fmt.Errorf("force %q: %w", name, err)
	}
	var reply subjects.ForceReply
	if err := json.Unmarshal(msg.Data, &reply); err != nil {
		return nil, fmt.Errorf("force %q: unreadable answer from the ticker: %w", name, err)
	}
	return &reply, nil
}
