package ticker

import (
	"bytes"
	"context"
	"errors"
	"time"

	"github.com/jetcron/jetcron/subjects"
)

// ErrConflict is returned by Store.CreateRun when the run's record exists already,
// and by Store.UpdateRun when the record is no longer at the expected revision.
var ErrConflict = errors.New("run record changed by another writer")

// Store is everything the dispatcher reads and writes. The JetStream implementation
// is jsStore; tests use an in-memory one. Reads "from the leader" are answered by the
// bucket stream's leader, whose answer is current, never by a replica's copy.
type Store interface {
	// Watch sends the current job states, then every version of every job that the
	// jobs bucket keeps (oldest first, deletions included), then the current nodes
	// and run records, to out; closes the returned ready channel once all of them
	// were sent; and then sends every change until ctx ends. With runsAfter > 0 it
	// sends, of the run records, only their changes after that revision, in order,
	// unless a job state it sent does not list its open runs (listsOpen). Before the
	// first run record it sends a RunsWatched change whose Rev says which it did.
	Watch(ctx context.Context, out chan<- Change, runsAfter uint64) (ready <-chan struct{}, err error)
	// Checkpoint reads the stored runs checkpoint's revision (RunsCheckpoint); 0 when
	// none is stored.
	Checkpoint(ctx context.Context) (uint64, error)
	// PutCheckpoint stores a runs checkpoint at revision rev.
	PutCheckpoint(ctx context.Context, rev uint64) error
	// TrimRuns drops the job's run records (sysbatch node runs included) last written
	// before revision below, and all but the newest keepLogs of their outputs.
	TrimRuns(ctx context.Context, jobKey string, below uint64, keepLogs int) error
	// CreateRun stores a new run record and returns its revision; ErrConflict if the
	// record exists (another ticker made it: the run is not launched twice).
	CreateRun(ctx context.Context, key string, run *subjects.Run) (uint64, error)
	// GetRun reads a run record and its revision from the leader; the error wraps
	// jetstream.ErrKeyNotFound when there is none.
	GetRun(ctx context.Context, key string) (*subjects.Run, uint64, error)
	// GetNode reads a node's record from the leader, as a NodeChanged change.
	GetNode(ctx context.Context, name string) (Change, error)
	// UpdateRun replaces the record at revision rev; ErrConflict if it moved on.
	UpdateRun(ctx context.Context, key string, run *subjects.Run, rev uint64) (uint64, error)
	// PublishLaunch publishes a launch, de-duplicated by its message ID, tagged with the
	// lock revision it was made under.
	PublishLaunch(ctx context.Context, l *subjects.Launch, leaderRev uint64) error
	// PublishEvent queues a run event for publication; it never blocks and never
	// drops one (eventpub).
	PublishEvent(e *subjects.Event)
	// PutJobState stores the ticker's view of a job under its job key.
	PutJobState(ctx context.Context, jobKey string, st *subjects.JobState) error
	// JobChangesAfter reads the jobs bucket's changes stored after revision rev, oldest
	// first, at most limit of them, from the leader. With an error it may also return
	// changes: real ones, but perhaps not all of them.
	JobChangesAfter(ctx context.Context, rev uint64, limit int) ([]Change, error)
	// RunChangesAfter is JobChangesAfter for the run records.
	RunChangesAfter(ctx context.Context, rev uint64, limit int) ([]Change, error)
	// RunsLastRevision reads the revision of the newest change to the run records,
	// from the leader.
	RunsLastRevision(ctx context.Context) (uint64, error)
}

// ChangeKind says what a Change is about.
type ChangeKind int

// Change kinds.
const (
	JobChanged ChangeKind = iota
	JobStateChanged
	NodeChanged
	RunChanged
	// RunsWatched says that the run records that follow are their changes after Rev,
	// or every record when Rev is 0.
	RunsWatched
)

// listsOpen reports whether a stored job state lists its job's open runs
// (JobState.ListsOpen), without decoding it: encoding/json writes the field so.
func listsOpen(state []byte) bool {
	return bytes.Contains(state, []byte(`"lists_open":true`))
}

// runsFrom is the revision after which the run records are read: after, unless a job
// state does not list its open runs (stored by an older version), or none was sent.
func runsFrom(after uint64, unlisted bool) uint64 {
	if unlisted {
		return 0
	}
	return after
}

// Change is one key of one bucket as it is now.
type Change struct {
	Kind    ChangeKind
	Key     string
	Value   []byte
	Rev     uint64
	Written time.Time // when the server stored this revision
	Deleted bool
}
