// Package operator is what jetcron's operator views and actions ask of a cluster:
// the jobs, a job and its runs, one run and its output, the nodes, the server
// members, and the actions force, stop, submit and drain. The CLI renders its answers
// as tables or -json, and the HTTP API serves the same values as JSON, so that both
// show the same data. It reads and writes only through JetStream (the buckets and
// subjects named in package subjects) and holds no state of its own.
package operator

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetcron/jetcron/subjects"
)

// Client asks one cluster. Its zero value is not usable: make it with New.
type Client struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	address string
	// beforePauseWrite, when set (by tests), is called between a pause's read of the
	// job and its revision-checked write, with the try's number from 1.
	beforePauseWrite func(try int)
	// afterOutputRead, when set (by tests), is called each time FollowRun has read the
	// stored output.
	afterOutputRead func()
}

// New makes a Client on a connection and its JetStream context. address names the
// cluster in error messages ("no answer from JetStream at nats://...").
func New(nc *nats.Conn, js jetstream.JetStream, address string) *Client {
	return &Client{nc: nc, js: js, address: address}
}

// Conn is the client's connection.
func (c *Client) Conn() *nats.Conn { return c.nc }

// JetStream is the client's JetStream context.
func (c *Client) JetStream() jetstream.JetStream { return c.js }

// Address is the cluster's address as given to New.
func (c *Client) Address() string { return c.address }

// Bucket binds a jetcron KV bucket, with an error a person can act on when it is
// missing or JetStream does not answer.
func (c *Client) Bucket(ctx context.Context, name string) (jetstream.KeyValue, error) {
	kv, err := c.js.KeyValue(ctx, name)
	if err != nil {
		return nil, c.bucketError(name, err)
	}
	return kv, nil
}

// bucketStream binds the stream of a jetcron KV bucket, to read its values with
// their headers; its errors are Bucket's.
func (c *Client) bucketStream(ctx context.Context, name string) (jetstream.Stream, error) {
	st, err := c.js.Stream(ctx, subjects.KVStream(name))
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		err = jetstream.ErrBucketNotFound
	}
	if err != nil {
		return nil, c.bucketError(name, err)
	}
	return st, nil
}

// bucketError says why bucket name could not be bound, in words a person can act on.
func (c *Client) bucketError(name string, err error) error {
	switch {
	case errors.Is(err, jetstream.ErrBucketNotFound):
		return fmt.Errorf("bucket %s not found at %s: is a jetcron server running there?", name, c.address)
	case errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount),
		errors.Is(err, nats.ErrNoResponders):
		return fmt.Errorf("JetStream is not enabled at %s: is it a jetcron server?", c.address)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout), errors.Is(err, jetstream.ErrNoStreamResponse):
		return fmt.Errorf("bucket %s: no answer from JetStream at %s (no quorum?)", name, c.address)
	default:
		return fmt.Errorf("bucket %s: %w", name, err)
	}
}

// Entries returns the newest value of every key of kv that matches filter (a KV key
// pattern such as "*" or "job.*"), deleted keys left out, sorted by key.
func Entries(ctx context.Context, kv jetstream.KeyValue, filter string) ([]jetstream.KeyValueEntry, error) {
	w, err := kv.Watch(ctx, filter, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("read bucket %s: %w", kv.Bucket(), err)
	}
	defer w.Stop()
	latest := map[string]jetstream.KeyValueEntry{}
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return nil, fmt.Errorf("read bucket %s: watcher stopped", kv.Bucket())
			}
			if e == nil {
				out := make([]jetstream.KeyValueEntry, 0, len(latest))
				for _, e := range latest {
					out = append(out, e)
				}
				sort.Slice(out, func(i, j int) bool { return out[i].Key() < out[j].Key() })
				return out, nil
			}
			latest[e.Key()] = e
		case <-ctx.Done():
			return nil, fmt.Errorf("read bucket %s: %w", kv.Bucket(), ctx.Err())
		}
	}
}

// Keys returns the keys of kv that match filter, deleted keys left out.
func Keys(ctx context.Context, kv jetstream.KeyValue, filter string) ([]string, error) {
	l, err := kv.ListKeysFiltered(ctx, filter)
	if err != nil {
		return nil, fmt.Errorf("list bucket %s: %w", kv.Bucket(), err)
	}
	seen := map[string]bool{}
	var out []string
	for k := range l.Keys() {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list bucket %s: %w", kv.Bucket(), err)
	}
	return out, nil
}
