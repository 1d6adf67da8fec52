package ticker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/jetcron/jetcron/internal/eventpub"
	"github.com/jetcron/jetcron/subjects"
)

// jsStore is the Store over JetStream.
type jsStore struct {
	js      jetstream.JetStream
	buckets *subjects.Buckets
	log     zerolog.Logger
	events  *eventpub.Publisher // run by Ticker.Run

	mu      sync.Mutex
	streams map[string]jetstream.Stream // looked up once needed
}

// watchSource is one bucket the store watches.
type watchSource struct {
	kind    ChangeKind
	kv      jetstream.KeyValue
	history bool   // every version the bucket keeps, not only the newest
	after   uint64 // only the changes after this revision, when not 0
}

// Watch watches the buckets in three phases, each once the one before has sent its
// initial values: job states, then jobs, then nodes and runs. A job's versions then
// meet its settled mark, and a run record its job.
func (s *jsStore) Watch(ctx context.Context, out chan<- Change, runsAfter uint64) (<-chan struct{}, error) {
	phases := [][]watchSource{
		{{kind: JobStateChanged, kv: s.buckets.JobState}},
		{{kind: JobChanged, kv: s.buckets.Jobs, history: true}},
		{{kind: NodeChanged, kv: s.buckets.Nodes}, {kind: RunChanged, kv: s.buckets.Runs}},
	}
	// Every job state is sent (phase 1) before the run records are watched (phase 3).
	var unlisted bool
	inspect := func(e jetstream.KeyValueEntry) {
		if e.Key() != subjects.CheckpointKey && e.Operation() == jetstream.KeyValuePut && !listsOpen(e.Value()) {
			unlisted = true
		}
	}
	// The first watch is made here, so that a cluster that cannot make one yet (no
	// meta leader) is reported; later ones are retried until they are made.
	first, err := s.watchOne(ctx, phases[0][0])
	if err != nil {
		return nil, err
	}
	ready := make(chan struct{})
	go func() {
		if !waitAll(ctx, s.forward(ctx, first, phases[0][0].kind, out, inspect)) {
			return
		}
		for _, phase := range phases[1:] {
			var sent []<-chan struct{}
			for _, src := range phase {
				if src.kind == RunChanged {
					src.after = runsFrom(runsAfter, unlisted)
					if src.after != runsAfter {
						s.log.Warn().Uint64("checkpoint_runs_rev", runsAfter).Msg("a job state stored by an older version lists no open runs; reading every run record")
					}
					select {
					case out <- Change{Kind: RunsWatched, Rev: src.after}:
					case <-ctx.Done():
						return
					}
				}
				w, err := s.watchOne(ctx, src)
				for err != nil {
					s.log.Warn().Err(err).Str("bucket", src.kv.Bucket()).Msg("cannot watch the bucket yet; retrying")
					select {
					case <-ctx.Done():
						return
					case <-time.After(250 * time.Millisecond):
					}
					w, err = s.watchOne(ctx, src)
				}
				sent = append(sent, s.forward(ctx, w, src.kind, out, nil))
			}
			if !waitAll(ctx, sent...) {
				return
			}
		}
		close(ready)
	}()
	return ready, nil
}

func (s *jsStore) watchOne(ctx context.Context, src watchSource) (jetstream.KeyWatcher, error) {
	var opts []jetstream.WatchOpt
	if src.history {
		opts = append(opts, jetstream.IncludeHistory())
	}
	if src.after > 0 {
		opts = append(opts, jetstream.ResumeFromRevision(src.after+1))
	}
	w, err := src.kv.WatchAll(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("watch bucket %s: %w", src.kv.Bucket(), err)
	}
	return w, nil
}

// forward sends the watch's changes to out until ctx ends; the returned channel is
// closed once its initial values were sent (or the watch ended). inspect, if given,
// sees each initial value first, on forward's goroutine.
func (s *jsStore) forward(ctx context.Context, w jetstream.KeyWatcher, kind ChangeKind, out chan<- Change, inspect func(jetstream.KeyValueEntry)) <-chan struct{} {
	initial := make(chan struct{})
	go func() {
		defer w.Stop()
		var loaded sync.Once
		defer loaded.Do(func() { close(initial) })
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e == nil {
					loaded.Do(func() { close(initial) })
					continue
				}
				if inspect != nil && !initialSent(initial) {
					inspect(e)
				}
				if kind == JobStateChanged && e.Key() == subjects.CheckpointKey {
					continue // the ticker's own, read by Checkpoint
				}
				c := Change{
					Kind: kind, Key: e.Key(), Value: e.Value(), Rev: e.Revision(), Written: e.Created(),
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
	return initial
}

// initialSent reports whether the channel is closed.
func initialSent(initial <-chan struct{}) bool {
	select {
	case <-initial:
		return true
	default:
		return false
	}
}

// waitAll waits for every channel to close; false if ctx ended first.
func waitAll(ctx context.Context, chs ...<-chan struct{}) bool {
	for _, ch := range chs {
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		}
	}
	return true
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

// GetRun reads the record's last message from the runs stream's leader.
func (s *jsStore) GetRun(ctx context.Context, key string) (*subjects.Run, uint64, error) {
	m, err := s.lastOf(ctx, subjects.RunStateBucket, key)
	if err != nil {
		return nil, 0, err
	}
	var run subjects.Run
	if err := json.Unmarshal(m.Data, &run); err != nil {
		return nil, 0, fmt.Errorf("decode run %s: %w", key, err)
	}
	return &run, m.Sequence, nil
}

// GetNode reads the node's last message from the nodes stream's leader.
func (s *jsStore) GetNode(ctx context.Context, name string) (Change, error) {
	m, err := s.lastOf(ctx, subjects.NodesBucket, subjects.Token(name))
	if err != nil {
		return Change{}, err
	}
	return Change{Kind: NodeChanged, Key: subjects.Token(name), Value: m.Data, Rev: m.Sequence, Written: m.Time}, nil
}

// lastOf reads the newest message of key in bucket from the bucket stream's leader;
// jetstream.ErrKeyNotFound if there is none, or it deleted the key.
func (s *jsStore) lastOf(ctx context.Context, bucket, key string) (*jetstream.RawStreamMsg, error) {
	stream := subjects.KVStream(bucket)
	m, err := s.msgGet(ctx, subjects.MsgGetAPI(s.js.Options().APIPrefix, stream), msgGetRequest{LastFor: subjects.KVSubject(bucket, key)})
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, fmt.Errorf("%s %s: %w", bucket, key, jetstream.ErrKeyNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s %s from the stream's leader: %w", bucket, key, err)
	}
	if op := m.Header.Get(kvOperationHeader); op == "DEL" || op == "PURGE" {
		return nil, fmt.Errorf("%s %s: %w", bucket, key, jetstream.ErrKeyNotFound)
	}
	return m, nil
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

func (s *jsStore) PublishEvent(e *subjects.Event) { s.events.Publish(*e) }

func (s *jsStore) PutJobState(ctx context.Context, jobKey string, st *subjects.JobState) error {
	data, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode job state %s: %w", jobKey, err)
	}
	_, err = s.buckets.JobState.Put(ctx, subjects.Token(jobKey), data)
	return err
}

// Checkpoint reads the runs checkpoint from the job state bucket.
func (s *jsStore) Checkpoint(ctx context.Context) (uint64, error) {
	e, err := s.buckets.JobState.Get(ctx, subjects.CheckpointKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read the runs checkpoint: %w", err)
	}
	var cp subjects.RunsCheckpoint
	if err := json.Unmarshal(e.Value(), &cp); err != nil {
		// Not one of ours: reading every record is always right.
		s.log.Warn().Err(err).Msg("unreadable runs checkpoint ignored")
		return 0, nil
	}
	return cp.RunsRev, nil
}

// PutCheckpoint stores the runs checkpoint in the job state bucket.
func (s *jsStore) PutCheckpoint(ctx context.Context, rev uint64) error {
	data := mustJSON(subjects.RunsCheckpoint{RunsRev: rev, Written: time.Now().UTC()})
	if _, err := s.buckets.JobState.Put(ctx, subjects.CheckpointKey, data); err != nil {
		return fmt.Errorf("store the runs checkpoint: %w", err)
	}
	return nil
}

// TrimRuns purges the job's records below the revision from the runs bucket's stream,
// and all but the newest keepLogs outputs of its runs from the logs bucket's (a run's
// output is written when it ends; a cut by revision there would not match the one
// here).
func (s *jsStore) TrimRuns(ctx context.Context, jobKey string, below uint64, keepLogs int) error {
	prefix := subjects.Token(jobKey) + ".>"
	runs, err := s.stream(ctx, subjects.KVStream(subjects.RunStateBucket))
	if err != nil {
		return err
	}
	if err := runs.Purge(ctx, jetstream.WithPurgeSubject(subjects.KVSubject(subjects.RunStateBucket, prefix)), jetstream.WithPurgeSequence(below)); err != nil {
		return fmt.Errorf("drop the old run records of %s: %w", jobKey, err)
	}
	logs, err := s.stream(ctx, subjects.KVStream(subjects.LogsBucket))
	if err != nil {
		return err
	}
	if err := logs.Purge(ctx, jetstream.WithPurgeSubject(subjects.KVSubject(subjects.LogsBucket, prefix)), jetstream.WithPurgeKeep(uint64(keepLogs))); err != nil {
		return fmt.Errorf("drop the old run output of %s: %w", jobKey, err)
	}
	return nil
}

// JobChangesAfter reads the jobs bucket's changes by sequence (readChanges).
func (s *jsStore) JobChangesAfter(ctx context.Context, rev uint64, limit int) ([]Change, error) {
	return s.readChanges(ctx, subjects.JobsBucket, JobChanged, rev, limit)
}

// RunChangesAfter reads the run records' changes by sequence (readChanges).
func (s *jsStore) RunChangesAfter(ctx context.Context, rev uint64, limit int) ([]Change, error) {
	return s.readChanges(ctx, subjects.RunStateBucket, RunChanged, rev, limit)
}

// RunsLastRevision reads the runs bucket's stream info, which its leader answers.
func (s *jsStore) RunsLastRevision(ctx context.Context) (uint64, error) {
	st, err := s.js.Stream(ctx, subjects.KVStream(subjects.RunStateBucket))
	if err != nil {
		return 0, fmt.Errorf("read the runs bucket's last revision: %w", err)
	}
	return st.CachedInfo().State.LastSeq, nil
}

// readChanges reads the bucket's messages with a sequence after after, at most limit
// of them, oldest first.
//
// It asks the stream's leader, whose answer is current, with JetStream's MSG.GET
// API, for half of ctx's time. nats.go's GetMsg makes direct gets on a stream that
// allows them, as KV buckets do, and any replica answers those, including one back
// from a partition, from its stale copy until it has caught up. When the leader does
// not answer (the stream or JetStream electing one, or this server cut off from it),
// the changes are read with direct gets all the same, for what they find is real,
// but with errNotAuthoritative: that nothing more was found proves nothing.
func (s *jsStore) readChanges(ctx context.Context, bucket string, kind ChangeKind, after uint64, limit int) ([]Change, error) {
	stream := subjects.KVStream(bucket)
	api := subjects.MsgGetAPI(s.js.Options().APIPrefix, stream)
	wait := ioTimeout / 2
	if deadline, ok := ctx.Deadline(); ok {
		wait = time.Until(deadline) / 2
	}
	lctx, cancel := context.WithTimeout(ctx, wait)
	out, leaderErr := readWith(lctx, bucket, kind, after, limit, func(ctx context.Context, seq uint64, subject string) (*jetstream.RawStreamMsg, error) {
		return s.msgGet(ctx, api, msgGetRequest{Seq: seq, NextFor: subject})
	})
	cancel()
	if leaderErr == nil {
		return out, nil
	}
	str, err := s.stream(ctx, stream)
	if err != nil {
		return out, errors.Join(fmt.Errorf("%w: %w", errNotAuthoritative, leaderErr), err)
	}
	out, err = readWith(ctx, bucket, kind, after, limit, func(ctx context.Context, seq uint64, subject string) (*jetstream.RawStreamMsg, error) {
		return str.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
	})
	return out, errors.Join(fmt.Errorf("%w: %w", errNotAuthoritative, leaderErr), err)
}

// errNotAuthoritative is returned, with what was read, by a read of changes that the
// stream's leader did not answer.
var errNotAuthoritative = errors.New("read from a replica, which may be behind, not from the stream's leader")

// kvOperationHeader says whether a KV message deletes its key.
const kvOperationHeader = "KV-Operation"

// readWith reads as readChanges does with get, which gets the first message at or
// after seq on subject.
func readWith(ctx context.Context, bucket string, kind ChangeKind, after uint64, limit int, get func(ctx context.Context, seq uint64, subject string) (*jetstream.RawStreamMsg, error)) ([]Change, error) {
	var out []Change
	for seq := after + 1; len(out) < limit; {
		m, err := get(ctx, seq, subjects.KVSubject(bucket, ">"))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break // none stored after seq
		}
		if err != nil {
			return out, fmt.Errorf("read bucket %s from revision %d: %w", bucket, seq, err)
		}
		key, _ := subjects.KeyOfSubject(bucket, m.Subject)
		op := m.Header.Get(kvOperationHeader)
		out = append(out, Change{
			Kind: kind, Key: key, Value: m.Data, Rev: m.Sequence, Written: m.Time,
			Deleted: op == "DEL" || op == "PURGE",
		})
		seq = m.Sequence + 1
	}
	return out, nil
}

// msgGet asks api (a stream's MSG.GET) for a message; jetstream.ErrMsgNotFound if
// there is none.
func (s *jsStore) msgGet(ctx context.Context, api string, req msgGetRequest) (*jetstream.RawStreamMsg, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	msg, err := s.js.Conn().RequestWithContext(ctx, api, body)
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
	Seq     uint64 `json:"seq,omitempty"`
	NextFor string `json:"next_by_subj,omitempty"`
	LastFor string `json:"last_by_subj,omitempty"`
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

// stream looks up a stream the first time it is needed.
func (s *jsStore) stream(ctx context.Context, name string) (jetstream.Stream, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.streams[name]; st != nil {
		return st, nil
	}
	st, err := s.js.Stream(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("look up stream %s: %w", name, err)
	}
	if s.streams == nil {
		s.streams = map[string]jetstream.Stream{}
	}
	s.streams[name] = st
	return st, nil
}

// errCodeDuplicateInProcess is JetStream's "duplicate message id is in process": the
// loser of two concurrent publishes of one message ID gets it (NATS-NOTES.md).
const errCodeDuplicateInProcess jetstream.ErrorCode = 10158
