package operator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetcron/jetcron/job"
	"github.com/jetcron/jetcron/subjects"
)

// ErrNotFound is wrapped by every error that says a job, run or node does not exist;
// the message names what was looked for ("job \"x\" not found").
var ErrNotFound = errors.New("not found")

// RecentRuns is how many runs JobStatus lists, as Nomad.
const RecentRuns = 10

// Job statuses.
const (
	JobRunning = "running" // the newest version is valid and launches
	JobPaused  = "paused"  // the newest version is valid and paused: its ticks are skipped
	JobInvalid = "invalid" // the newest version is invalid; the last valid one launches
	JobDead    = "dead"    // the job was stopped (deleted from the jobs bucket)
)

// JobView is what jetcron knows of one job: its file in the jobs bucket and the
// ticker's record of it.
type JobView struct {
	Name string
	// Entry is the job's current value in the jobs bucket; nil when it was deleted.
	Entry jetstream.KeyValueEntry
	// State is the ticker's record; nil when no ticker has seen the job yet.
	State *subjects.JobState
	// Current is Entry parsed, nil when it is invalid (ParseErr) or absent.
	Current  *job.Job
	ParseErr error
	// LastSpec is the last valid version parsed: Current, else the state's Spec, else
	// the newest version in the bucket's history; nil when there is none.
	LastSpec *job.Job
}

// NewJobView parses what is known of a job. history is its newest stored version
// when it is no longer in the bucket (may be nil).
func NewJobView(name string, entry jetstream.KeyValueEntry, state *subjects.JobState, history []byte) *JobView {
	v := &JobView{Name: name, Entry: entry, State: state}
	if entry != nil {
		v.Current, v.ParseErr = job.Parse(name, entry.Value())
	}
	switch {
	case v.Current != nil:
		v.LastSpec = v.Current
	case state != nil && state.Spec != "":
		v.LastSpec, _ = job.Parse(name, []byte(state.Spec))
	case history != nil:
		v.LastSpec, _ = job.Parse(name, history)
	}
	return v
}

// Status is running, paused, invalid or dead; errText is the validation error of an
// invalid job (Pause has a paused job's note). The ticker's verdict counts unless it
// predates the current version.
func (v *JobView) Status() (status, errText string) {
	if v.Entry == nil {
		return JobDead, ""
	}
	stateCurrent := v.State != nil && !v.State.Valid && !v.State.Updated.Before(v.Entry.Created())
	switch {
	case stateCurrent && v.State.Error != "":
		return JobInvalid, v.State.Error
	case v.ParseErr != nil:
		return JobInvalid, v.ParseErr.Error()
	case stateCurrent:
		return JobInvalid, "invalid (the ticker gave no reason)"
	case v.Current != nil && v.Current.Paused:
		return JobPaused, ""
	}
	return JobRunning, ""
}

// Pause says whether the version that launches (LastSpec) is paused, and its note;
// false for a stopped job. An invalid newest version leaves the last valid one
// running, paused or not.
func (v *JobView) Pause() (paused bool, note string) {
	if v.Entry == nil || v.LastSpec == nil {
		return false, ""
	}
	return v.LastSpec.Paused, v.LastSpec.PauseNote
}

// Location is the last valid version's time zone, else UTC.
func (v *JobView) Location() *time.Location {
	if v.LastSpec == nil {
		return time.UTC
	}
	return v.LastSpec.Location()
}

// NextLaunch is the next launch after now of the version that launches; zero when
// none does (dead, never valid, paused, or a schedule that has ended).
func (v *JobView) NextLaunch(now time.Time) time.Time {
	if paused, _ := v.Pause(); v.Entry == nil || v.LastSpec == nil || paused {
		return time.Time{}
	}
	return v.LastSpec.Schedule().Next(now)
}

// JobRow is one job in the list of jobs (`job status -json`, GET /v1/jobs).
type JobRow struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Priority int    `json:"priority"`
	Status   string `json:"status"`
	Error    string `json:"error,omitempty"`
	// Paused is set while the version that launches is paused, with its note.
	Paused    bool   `json:"paused,omitempty"`
	PauseNote string `json:"pause_note,omitempty"`
	// LastResult is the state of the job's newest finished run (complete, failed,
	// lost, skipped), empty when none has finished; LastRun is its ID and
	// LastReason why it failed, was lost or was skipped.
	LastResult string `json:"last_result,omitempty"`
	LastRun    string `json:"last_run,omitempty"`
	LastReason string `json:"last_reason,omitempty"`
}

// Jobs lists every job in the jobs bucket, and the stopped ones the ticker still has
// a record of, sorted by name. warn is told of records that do not decode.
func (c *Client) Jobs(ctx context.Context, warn func(string)) ([]JobRow, error) {
	recs, err := c.jobRecords(ctx, warn)
	if err != nil {
		return nil, err
	}
	last, err := c.lastResults(ctx, nil)
	if err != nil {
		return nil, err
	}
	rows := make([]JobRow, 0, len(recs))
	for _, rec := range recs {
		r := jobRow(rec.view())
		r.setLast(last[rec.name])
		rows = append(rows, r)
	}
	return rows, nil
}

// jobRecord is what the buckets hold of one job, not parsed yet: its file (nil when
// it was stopped) and the ticker's record (nil when no ticker has seen it).
type jobRecord struct {
	name  string
	entry jetstream.KeyValueEntry
	state *subjects.JobState
}

// view parses the record: a job file's parse is what a list of many jobs spends most
// of its time on.
func (r jobRecord) view() *JobView { return NewJobView(r.name, r.entry, r.state, nil) }

// jobRecords reads every job in the jobs bucket, and the stopped ones the ticker
// still has a record of, sorted by name. warn (may be nil) is told of records that do
// not decode.
func (c *Client) jobRecords(ctx context.Context, warn func(string)) ([]jobRecord, error) {
	jobsKV, err := c.Bucket(ctx, subjects.JobsBucket)
	if err != nil {
		return nil, err
	}
	stateKV, err := c.Bucket(ctx, subjects.JobStateBucket)
	if err != nil {
		return nil, err
	}
	jobEntries, err := Entries(ctx, jobsKV, ">")
	if err != nil {
		return nil, err
	}
	stateEntries, err := Entries(ctx, stateKV, ">")
	if err != nil {
		return nil, err
	}
	states := map[string]*subjects.JobState{}
	for _, e := range stateEntries {
		if e.Key() == subjects.CheckpointKey {
			continue // the ticker's, not a job's
		}
		var s subjects.JobState
		if err := json.Unmarshal(e.Value(), &s); err != nil {
			if warn != nil {
				warn(fmt.Sprintf("%s/%s is not a job state record: %v", subjects.JobStateBucket, e.Key(), err))
			}
			continue
		}
		if s.Job == "" {
			if s.Job, err = subjects.ParseToken(e.Key()); err != nil {
				continue
			}
		}
		states[s.Job] = &s
	}
	recs := make([]jobRecord, 0, len(jobEntries)+len(states))
	for _, e := range jobEntries {
		recs = append(recs, jobRecord{name: e.Key(), entry: e, state: states[e.Key()]})
		delete(states, e.Key())
	}
	for name, s := range states {
		recs = append(recs, jobRecord{name: name, state: s})
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].name < recs[j].name })
	return recs, nil
}

// jobRow is v's row in the list of jobs, without its last result.
func jobRow(v *JobView) JobRow {
	status, errText := v.Status()
	r := JobRow{ID: v.Name, Status: status, Error: errText}
	r.Paused, r.PauseNote = v.Pause()
	if v.LastSpec != nil {
		r.Type, r.Priority = v.LastSpec.Type, v.LastSpec.Priority
	}
	return r
}

// setLast sets the row's last result from the job's newest finished run (nil: none).
func (r *JobRow) setLast(run *subjects.Run) {
	if run != nil {
		r.LastResult, r.LastRun, r.LastReason = string(run.State), run.ID, RunReason(run)
	}
}

// readRun reads the run record at key; ErrNotFound when it is gone.
func readRun(ctx context.Context, kv jetstream.KeyValue, key string) (*subjects.Run, error) {
	e, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, fmt.Errorf("run %s %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read run %s: %w", key, err)
	}
	var r subjects.Run
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		return nil, fmt.Errorf("read run %s: %w", key, err)
	}
	return &r, nil
}

// RunReason says why a run ended as it did, or is still queued: the run's reason
// (skipped, queued), else its current allocation's error; "" for a success.
func RunReason(r *subjects.Run) string {
	if r.Reason != "" {
		return r.Reason
	}
	if a := r.Current(); a != nil {
		return a.Error
	}
	return ""
}

// LoadJob reads what is known of job: its file, the ticker's record and, for a job no
// longer in the bucket without a record, its newest version in the bucket's history.
// It returns an error wrapping ErrNotFound when nothing is known of it.
func (c *Client) LoadJob(ctx context.Context, name string) (*JobView, error) {
	jobsKV, err := c.Bucket(ctx, subjects.JobsBucket)
	if err != nil {
		return nil, err
	}
	stateKV, err := c.Bucket(ctx, subjects.JobStateBucket)
	if err != nil {
		return nil, err
	}
	var entry jetstream.KeyValueEntry
	if ValidKey(name) {
		entry, err = jobsKV.Get(ctx, name)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			entry, err = nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read job %q: %w", name, err)
		}
	}
	var state *subjects.JobState
	se, err := stateKV.Get(ctx, subjects.Token(name))
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
	case err != nil:
		return nil, fmt.Errorf("read job %q's state: %w", name, err)
	default:
		state = new(subjects.JobState)
		if err := json.Unmarshal(se.Value(), state); err != nil {
			return nil, fmt.Errorf("read job %q's state: %w", name, err)
		}
	}
	var history []byte
	if entry == nil && state == nil && ValidKey(name) {
		hs, err := jobsKV.History(ctx, name)
		if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil, fmt.Errorf("read job %q's history: %w", name, err)
		}
		for _, h := range hs {
			if h.Operation() == jetstream.KeyValuePut {
				history = h.Value()
			}
		}
	}
	if entry == nil && state == nil && history == nil {
		return nil, fmt.Errorf("job %q %w", name, ErrNotFound)
	}
	return NewJobView(name, entry, state, history), nil
}

// ValidKey reports whether name can be a key of the jobs bucket (NATS KV's rule:
// letters, digits and -/_=. without a leading or trailing dot). Such a key need not be
// a valid job name: `backup.v2` is stored, and shown invalid.
func ValidKey(name string) bool {
	if name == "" || name[0] == '.' || name[len(name)-1] == '.' {
		return false
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-/_=.", c)) {
			return false
		}
	}
	return true
}

// JobStatus is one job with its newest runs (`job status JOB -json`, GET /v1/job/NAME).
type JobStatus struct {
	ID                 string     `json:"id"`
	Name               string     `json:"name"`
	Type               string     `json:"type"`
	Priority           int        `json:"priority"`
	Datacenters        []string   `json:"datacenters"`
	Status             string     `json:"status"`
	Error              string     `json:"error,omitempty"`
	Paused             bool       `json:"paused,omitempty"`
	PauseNote          string     `json:"pause_note,omitempty"`
	Periodic           bool       `json:"periodic"`
	NextPeriodicLaunch *time.Time `json:"next_periodic_launch,omitempty"`
	Revision           uint64     `json:"revision,omitempty"`
	// Warning says why no node can run the job now, when none can.
	Warning string          `json:"warning,omitempty"`
	State   json.RawMessage `json:"state,omitempty"`
	Runs    []subjects.Run  `json:"runs"`
}

// Job returns job's status at now with its RecentRuns newest runs, and the view it
// was made from (for rendering).
func (c *Client) Job(ctx context.Context, name string, now time.Time) (*JobStatus, *JobView, error) {
	v, err := c.LoadJob(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	runs, err := c.Runs(ctx, name, RecentRuns)
	if err != nil {
		return nil, nil, err
	}
	status, errText := v.Status()
	out := &JobStatus{ID: name, Name: name, Status: status, Error: errText, Periodic: true, Runs: runs}
	out.Paused, out.PauseNote = v.Pause()
	if v.LastSpec != nil {
		out.Type, out.Priority, out.Datacenters = v.LastSpec.Type, v.LastSpec.Priority, v.LastSpec.Datacenters
	}
	if next := v.NextLaunch(now); !next.IsZero() {
		out.NextPeriodicLaunch = &next
	}
	if v.Entry != nil {
		out.Revision = v.Entry.Revision()
		nodes, err := c.PlacementNodes(ctx, now)
		if err != nil {
			return nil, nil, err
		}
		out.Warning = noNodeWarning(v, nodes)
	}
	if v.State != nil {
		out.State, _ = json.Marshal(v.State)
	}
	return out, v, nil
}
