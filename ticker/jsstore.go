package ticker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/jetcron/jetcron/subjects"
)

// jsStore is the Store over JetStream.
type jsStore struct {
	js      jetstream.JetStream
	buckets *subjects.Buckets
	log     zerolog.Logger

	mu   sync.Mutex
	jobs jetstream.Stream // the jobs bucket's stream, once looked up
}

func (s *jsStore) Watch(ctx context.Context, out chan<- Change) (<-chan struct{}, error) {
	sources := []struct {
		kind ChangeKind
		kv   jetstream.KeyValue
	}{
		{JobStateChanged, s.buckets.JobState},
		{JobChanged, s.buckets.Jobs},
		{NodeChanged, s.buckets.Nodes},
		{RunChanged, s.buckets.Runs},
	}
	var initial sync.WaitGroup
	for _, src := range sources {
		w, err := src.kv.WatchAll(ctx)
		if err != nil {
			return nil, fmt.Errorf("watch bucket %s: %w", src.kv.Bucket(), err)
		}
		initial.Add(1)
		go func() {
			defer w.Stop()
			var loaded sync.Once // the initial values were all sent, or the watch ended
			defer loaded.Do(initial.Done)
			for {
				select {
				case <-ctx.Done():
					return
				case e, ok := <-w.Updates():
					if !ok {
						return
					}
					if e == nil {
						loaded.Do(initial.Done)
						continue
					}
					c := Change{
						Kind: src.kind, Key: e.Key(), Value: e.Value(), Rev: e.Revision(), Written: e.Created(),
						Deleted: e.Operation() != jetstream.KeyValuePut,
					}
					select {
					case out <- c:
					case <-ctx.Done():
						return
					}
				}
			}
		}()
	}
	ready := make(chan struct{})
	go func() { initial.Wait(); close(ready) }()
	return ready, nil
}

func (s *jsStore) CreateRun(ctx context.Context, key string, run *subjects.Run) (uint64, error) {
	data, err := json.Marshal(run)
	if err != nil {
		return 0, fmt.Errorf("encode run %s: %w", run.ID, err)
	}
	rev, err := s.buckets.Runs.Create(ctx, key, data)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return 0, ErrConflict
	}
	return rev, err
}

func (s *jsStore) GetRun(ctx context.Context, key string) (*subjects.Run, uint64, error) {
	e, err := s.buckets.Runs.Get(ctx, key)
	if err != nil {
		return nil, 0, err
	}
	var run subjects.Run
	if err := json.Unmarshal(e.Value(), &run); err != nil {
		return nil, 0, fmt.Errorf("decode run %s: %w", key, err)
	}
	return &run, e.Revision(), nil
}

func (s *jsStore) GetNode(ctx context.Context, name string) (Change, error) {
	e, err := s.buckets.Nodes.Get(ctx, subjects.Token(name))
	if err != nil {
		return Change{}, err
	}
	return Change{Kind: NodeChanged, Key: e.Key(), Value: e.Value(), Rev: e.Revision(), Written: e.Created()}, nil
}

func (s *jsStore) UpdateRun(ctx context.Context, key string, run *subjects.Run, rev uint64) (uint64, error) {
	data, err := json.Marshal(run)
	if err != nil {
		return 0, fmt.Errorf("encode run %s: %w", run.ID, err)
	}
	newRev, err := s.buckets.Runs.Update(ctx, key, data, rev)
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
		return 0, ErrConflict
	}
	return newRev, err
}

func (s *jsStore) PublishLaunch(ctx context.Context, l *subjects.Launch, leaderRev uint64) error {
	data, err := json.Marshal(l)
	if err != nil {
		return fmt.Errorf("encode launch %s: %w", l.RunID, err)
	}
	msg := &nats.Msg{Subject: subjects.LaunchSubject(l.Node, l.Job), Data: data, Header: nats.Header{}}
	msg.Header.Set(subjects.LeaderRevHeader, strconv.FormatUint(leaderRev, 10))
	_, err = s.js.PublishMsg(ctx, msg, jetstream.WithMsgID(l.MsgID()))
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode == errCodeDuplicateInProcess {
		return nil // a concurrent publish of the same launch is being stored
	}
	return err
}

func (s *jsStore) PublishEvent(e *subjects.Event) {
	data, err := json.Marshal(e)
	if err != nil {
		s.log.Error().Err(err).Str("run_id", e.RunID).Msg("encode event")
		return
	}
	if _, err := s.js.PublishAsync(subjects.EventSubject(e.Job), data); err != nil {
		s.log.Warn().Err(err).Str("job", e.Job).Str("run_id", e.RunID).Msg("event not published")
	}
}

func (s *jsStore) PutJobState(ctx context.Context, jobKey string, st *subjects.JobState) error {
	data, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode job state %s: %w", jobKey, err)
	}
	_, err = s.buckets.JobState.Put(ctx, subjects.Token(jobKey), data)
	return err
}

// JobChangesAfter reads the changes by sequence from the stream's leader (readJobs).
func (s *jsStore) JobChangesAfter(ctx context.Context, rev uint64, limit int) ([]Change, error) {
	return s.readJobs(ctx, ">", rev, 0, limit)
}

// RunsLastRevision reads the runs bucket's stream info, which its leader answers.
func (s *jsStore) RunsLastRevision(ctx context.Context) (uint64, error) {
	st, err := s.js.Stream(ctx, "KV_"+s.buckets.Runs.Bucket())
	if err != nil {
		return 0, fmt.Errorf("read the runs bucket's last revision: %w", err)
	}
	return st.CachedInfo().State.LastSeq, nil
}

// JobVersions reads the versions as JobChangesAfter reads changes.
func (s *jsStore) JobVersions(ctx context.Context, key string, after, before uint64) ([]Change, error) {
	return s.readJobs(ctx, key, after, before, maxVersions)
}

// readJobs reads the jobs bucket's messages on keys (a key, or ">" for all) with a
// sequence after after and before before (0: no bound), at most limit of them.
//
// It asks the stream's leader, whose answer is current, with JetStream's MSG.GET
// API, for half of ctx's time. nats.go's GetMsg makes direct gets on a stream that
// allows them, as KV buckets do, and any replica answers those, including one back
// from a partition, from its stale copy until it has caught up: a new holder that
// trusted one launched versions that had been replaced or deleted. When the leader
// does not answer (the stream or JetStream electing one, or this server cut off from
// it), the changes are read with direct gets all the same, for what they find is
// real, but with errNotAuthoritative: that nothing more was found proves nothing.
func (s *jsStore) readJobs(ctx context.Context, keys string, after, before uint64, limit int) ([]Change, error) {
	stream, err := s.jobsStream(ctx)
	if err != nil {
		return nil, err
	}
	prefix := s.js.Options().APIPrefix
	if prefix == "" {
		prefix = jetstream.DefaultAPIPrefix
	}
	api := prefix + "STREAM.MSG.GET." + stream.CachedInfo().Config.Name
	wait := ioTimeout / 2
	if deadline, ok := ctx.Deadline(); ok {
		wait = time.Until(deadline) / 2
	}
	lctx, cancel := context.WithTimeout(ctx, wait)
	out, leaderErr := s.readJobsWith(lctx, func(ctx context.Context, seq uint64, subject string) (*jetstream.RawStreamMsg, error) {
		return s.getMsg(ctx, api, seq, subject)
	}, keys, after, before, limit)
	cancel()
	if leaderErr == nil {
		return out, nil
	}
	out, err = s.readJobsWith(ctx, func(ctx context.Context, seq uint64, subject string) (*jetstream.RawStreamMsg, error) {
		return stream.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
	}, keys, after, before, limit)
	return out, errors.Join(fmt.Errorf("%w: %w", errNotAuthoritative, leaderErr), err)
}

// errNotAuthoritative is returned, with what was read, by a read of job changes that
// the jobs stream's leader did not answer.
var errNotAuthoritative = errors.New("read from a replica, which may be behind, not from the stream's leader")

// readJobsWith is readJobs with get, which gets the first message at or after seq on
// subject.
func (s *jsStore) readJobsWith(ctx context.Context, get func(ctx context.Context, seq uint64, subject string) (*jetstream.RawStreamMsg, error), keys string, after, before uint64, limit int) ([]Change, error) {
	subject := "$KV." + s.buckets.Jobs.Bucket() + "."
	var out []Change
	for seq := after + 1; len(out) < limit && (before == 0 || seq < before); {
		m, err := get(ctx, seq, subject+keys)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break // none stored after seq
		}
		if err != nil {
			return out, fmt.Errorf("read the jobs bucket from revision %d: %w", seq, err)
		}
		if before != 0 && m.Sequence >= before {
			break
		}
		op := m.Header.Get("KV-Operation")
		out = append(out, Change{
			Kind: JobChanged, Key: strings.TrimPrefix(m.Subject, subject), Value: m.Data, Rev: m.Sequence, Written: m.Time,
			Deleted: op == "DEL" || op == "PURGE",
		})
		seq = m.Sequence + 1
	}
	return out, nil
}

// getMsg asks api (a stream's MSG.GET) for the first message at or after seq on
// subject; jetstream.ErrMsgNotFound if there is none.
func (s *jsStore) getMsg(ctx context.Context, api string, seq uint64, subject string) (*jetstream.RawStreamMsg, error) {
	req, err := json.Marshal(msgGetRequest{Seq: seq, NextFor: subject})
	if err != nil {
		return nil, err
	}
	msg, err := s.js.Conn().RequestWithContext(ctx, api, req)
	if err != nil {
		return nil, err
	}
	var resp msgGetResponse
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return nil, fmt.Errorf("decode the answer of %s: %w", api, err)
	}
	switch {
	case resp.Error != nil && resp.Error.ErrorCode == jetstream.JSErrCodeMessageNotFound:
		return nil, jetstream.ErrMsgNotFound
	case resp.Error != nil:
		return nil, resp.Error
	case resp.Message == nil:
		return nil, fmt.Errorf("%s answered without a message", api)
	}
	m := resp.Message
	raw := &jetstream.RawStreamMsg{Subject: m.Subject, Sequence: m.Sequence, Data: m.Data, Time: m.Time}
	if len(m.Header) > 0 {
		if raw.Header, err = nats.DecodeHeadersMsg(m.Header); err != nil {
			return nil, fmt.Errorf("decode the headers of message %d: %w", m.Sequence, err)
		}
	}
	return raw, nil
}

// msgGetRequest and msgGetResponse are the MSG.GET API's request and answer.
type msgGetRequest struct {
	Seq     uint64 `json:"seq"`
	NextFor string `json:"next_by_subj,omitempty"`
}

type msgGetResponse struct {
	Message *struct {
		Subject  string    `json:"subject"`
		Sequence uint64    `json:"seq"`
		Header   []byte    `json:"hdrs,omitempty"`
		Data     []byte    `json:"data,omitempty"`
		Time     time.Time `json:"time"`
	} `json:"message,omitempty"`
	Error *jetstream.APIError `json:"error,omitempty"`
}

// jobsStream looks up the jobs bucket's stream the first time it is needed.
func (s *jsStore) jobsStream(ctx context.Context) (jetstream.Stream, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.jobs == nil {
		stream, err := s.js.Stream(ctx, "KV_"+s.buckets.Jobs.Bucket())
		if err != nil {
			return nil, fmt.Errorf("look up the jobs bucket's stream: %w", err)
		}
		s.jobs = stream
	}
	return s.jobs, nil
}

// errCodeDuplicateInProcess is JetStream's "duplicate message id is in process": the
// loser of two concurrent publishes of one message ID gets it (NATS-NOTES.md).
const errCodeDuplicateInProcess jetstream.ErrorCode = 10158
