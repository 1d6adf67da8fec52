package subjects

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Layout sizes the buckets and the stream that Provision creates.
type Layout struct {
	// Replicas of every bucket and stream: 3 in a cluster of 3 or more servers, else 1.
	Replicas int
	// LockTTL is how long the ticker lock lives unless renewed.
	LockTTL time.Duration
	// History is how long run records, run output and the runs stream are kept.
	History time.Duration
	// RunsMaxBytes bounds the runs stream (-1 = no limit).
	RunsMaxBytes int64
}

// DefaultLayout is the layout for replicas servers with the given lock TTL: a week of
// history and at most 1 GiB in the runs stream.
func DefaultLayout(replicas int, lockTTL time.Duration) Layout {
	return Layout{Replicas: replicas, LockTTL: lockTTL, History: 7 * 24 * time.Hour, RunsMaxBytes: 1 << 30}
}

// MaxJobFileSize is the largest value the jobs bucket stores; the job parser has its
// own, smaller limit and reports a clear error for anything between.
const MaxJobFileSize = 1 << 20

// Buckets returns the configuration of every KV bucket jetcron uses.
func (l Layout) Buckets() []jetstream.KeyValueConfig {
	kv := func(name, desc string, history uint8, ttl time.Duration, maxValue int32) jetstream.KeyValueConfig {
		return jetstream.KeyValueConfig{
			Bucket: name, Description: desc, History: history, TTL: ttl,
			MaxValueSize: maxValue, Storage: jetstream.FileStorage, Replicas: l.Replicas,
		}
	}
	return []jetstream.KeyValueConfig{
		kv(JobsBucket, "jetcron job files (YAML), one key per job", 16, 0, MaxJobFileSize),
		kv(NodesBucket, "jetcron client nodes and their heartbeats", 1, 0, 64<<10),
		kv(ServersBucket, "jetcron servers and their heartbeats", 1, 0, 64<<10),
		kv(RunStateBucket, "jetcron run records", 1, l.History, 256<<10),
		kv(JobStateBucket, "jetcron ticker's view of each job", 1, 0, 2*MaxJobFileSize),
		kv(LockBucket, "jetcron ticker lock", 1, l.LockTTL, 4<<10),
		kv(LogsBucket, "jetcron run output tails", 1, l.History, 256<<10),
	}
}

// Stream returns the configuration of the runs stream: a limits stream that keeps
// every launch and event for History (so `nats stream view runs` shows them), with
// de-duplication of launches by MsgIDHeader, and direct gets for the CLI's viewer.
func (l Layout) Stream() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        RunsStream,
		Description: "jetcron launches and run events",
		Subjects:    []string{RunsSubjects},
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      l.History,
		MaxBytes:    l.RunsMaxBytes,
		Storage:     jetstream.FileStorage,
		Replicas:    l.Replicas,
		Duplicates:  2 * time.Minute,
		AllowDirect: true,
	}
}

// Provision creates every bucket and the runs stream that do not exist yet. All
// servers call it at start and may race: an existing bucket or stream is kept as it
// is, whoever made it, except that the history it keeps of runs (the run records,
// their output, the runs stream) follows l.History. The lock's TTL is not changed:
// a holder started with the old TTL trusts its lease for that long.
func Provision(ctx context.Context, js jetstream.JetStream, l Layout) error {
	for _, cfg := range l.Buckets() {
		_, err := js.CreateKeyValue(ctx, cfg)
		switch {
		case errors.Is(err, jetstream.ErrBucketExists) && (cfg.Bucket == RunStateBucket || cfg.Bucket == LogsBucket):
			err = keepFor(ctx, js, KVStream(cfg.Bucket), cfg.TTL)
		case errors.Is(err, jetstream.ErrBucketExists):
			err = nil
		}
		if err != nil {
			return fmt.Errorf("create bucket %s: %w", cfg.Bucket, err)
		}
	}
	cfg := l.Stream()
	_, err := js.CreateStream(ctx, cfg)
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		err = keepFor(ctx, js, cfg.Name, cfg.MaxAge)
	}
	if err != nil {
		return fmt.Errorf("create stream %s: %w", cfg.Name, err)
	}
	return nil
}

// keepFor sets an existing stream's MaxAge to age, if it is another; nothing else of
// its configuration changes.
func keepFor(ctx context.Context, js jetstream.JetStream, stream string, age time.Duration) error {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return err
	}
	cfg := s.CachedInfo().Config
	if cfg.MaxAge == age {
		return nil
	}
	was := cfg.MaxAge
	cfg.MaxAge = age
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		return fmt.Errorf("keep %s for %v instead of %v: %w", stream, age, was, err)
	}
	return nil
}

// Buckets is the set of KV buckets a jetcron component binds to.
type Buckets struct {
	Jobs, Nodes, Servers, Runs, JobState, Lock, Logs jetstream.KeyValue
}

// Bind looks up every bucket; Provision must have run.
func Bind(ctx context.Context, js jetstream.JetStream) (*Buckets, error) {
	var b Buckets
	for _, x := range []struct {
		name string
		kv   *jetstream.KeyValue
	}{
		{JobsBucket, &b.Jobs}, {NodesBucket, &b.Nodes}, {ServersBucket, &b.Servers},
		{RunStateBucket, &b.Runs}, {JobStateBucket, &b.JobState}, {LockBucket, &b.Lock},
		{LogsBucket, &b.Logs},
	} {
		kv, err := js.KeyValue(ctx, x.name)
		if err != nil {
			return nil, fmt.Errorf("bucket %s: %w", x.name, err)
		}
		*x.kv = kv
	}
	return &b, nil
}
