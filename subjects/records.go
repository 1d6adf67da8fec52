package subjects

import (
	"encoding/json"
	"time"
)

// Member is a node's or a server's registration, kept with a heartbeat in NodesBucket
// or ServersBucket under Token(Name). Its status is derived by whoever reads it: see
// Member.Status.
type Member struct {
	// ID is a client node's stable ID (32 hex digits), kept in its data dir; for a
	// server, the embedded NATS server's ID (new at each start), as NATS's own tools
	// and logs (server_id) show it.
	ID string `json:"id"`
	// Name is the node name (default the host name).
	Name       string `json:"name"`
	Datacenter string `json:"datacenter"`
	Region     string `json:"region,omitempty"`
	// Class is the node class; empty shows as <none>.
	Class string `json:"class,omitempty"`
	// Drain keeps new runs off a node.
	Drain bool `json:"drain,omitempty"`
	// Address and Port are where a server routes (cluster port).
	Address string `json:"address,omitempty"`
	Port    int    `json:"port,omitempty"`
	// Build is jetcron's version; Protocol the wire protocol version.
	Build    string `json:"build,omitempty"`
	Protocol int    `json:"protocol,omitempty"`
	// MetaLeader is, in a server's record, the JetStream meta leader it sees: the
	// leader `server members` shows while no ticker holds the lock.
	MetaLeader string `json:"meta_leader,omitempty"`
	// Session is a client node's runner process: new at every start, so that runs it
	// claimed before a restart are known to be gone.
	Session string `json:"session,omitempty"`
	// Attributes are the node's facts (attr.unique.hostname, attr.kernel.name, ...).
	Attributes map[string]string `json:"attributes,omitempty"`
	Meta       map[string]string `json:"meta,omitempty"`
	// TTL is how long after Heartbeat the member counts as alive.
	TTL Millis `json:"ttl_ms"`
	// Heartbeat is when the member last wrote this record.
	Heartbeat time.Time `json:"heartbeat"`
	// Left is set by a clean shutdown: the member went away on purpose.
	Left bool `json:"left,omitempty"`
	// Stopping is set by a node's runner while it shuts down: it takes no new
	// launches and lets the runs still running end within its shutdown grace,
	// heartbeating meanwhile. Unlike Drain, which is an operator's lasting wish
	// that every writer of the record keeps, it is the writing process's own
	// transient state: no other writer sets it, and a runner never keeps another
	// writer's value (a restarted or sibling process must not inherit it).
	Stopping bool `json:"stopping,omitempty"`
}

// Member statuses.
const (
	StatusReady  = "ready"  // a node whose heartbeat is current
	StatusDown   = "down"   // a node whose heartbeat lapsed or that left
	StatusAlive  = "alive"  // a server whose heartbeat is current
	StatusFailed = "failed" // a server whose heartbeat lapsed
	StatusLeft   = "left"   // a server that shut down cleanly
)

// Alive reports whether the member's last heartbeat, written at written (the server's
// time of the KV entry), is younger than its TTL at now, and it has not left.
func (m *Member) Alive(written, now time.Time) bool {
	return !m.Left && now.Sub(written) <= m.TTL.Duration()
}

// NodeStatus is a client node's status at now: ready or down.
func (m *Member) NodeStatus(written, now time.Time) string {
	if m.Alive(written, now) {
		return StatusReady
	}
	return StatusDown
}

// ServerStatus is a server's status at now: alive, failed or left.
func (m *Member) ServerStatus(written, now time.Time) string {
	switch {
	case m.Left:
		return StatusLeft
	case m.Alive(written, now):
		return StatusAlive
	default:
		return StatusFailed
	}
}

// PlacementAttrs are the attributes a job's constraints are evaluated against, keyed
// without ${}: the node's Attributes, node.unique.name, node.datacenter, node.class,
// and meta.<key> for each Meta entry.
func (m *Member) PlacementAttrs() map[string]string {
	attrs := make(map[string]string, len(m.Attributes)+len(m.Meta)+3)
	for k, v := range m.Attributes {
		attrs[k] = v
	}
	for k, v := range m.Meta {
		attrs["meta."+k] = v
	}
	attrs["node.unique.name"] = m.Name
	attrs["node.datacenter"] = m.Datacenter
	attrs["node.class"] = m.Class
	return attrs
}

// ShortID is the first 8 hex digits of an ID, as Nomad shows them.
func ShortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// Millis is a duration carried as whole milliseconds in JSON.
type Millis int64

// MillisOf converts a duration.
func MillisOf(d time.Duration) Millis { return Millis(d / time.Millisecond) }

// Duration converts back.
func (m Millis) Duration() time.Duration { return time.Duration(m) * time.Millisecond }

// RunState is the state of a run or of one of its allocations. The order is forward
// only: queued → running → complete | failed | lost; skipped is final from the start;
// a sysbatch tick's record goes queued → launched once its run on every node it lists
// exists.
type RunState string

// Run states.
const (
	StateQueued   RunState = "queued"
	StateRunning  RunState = "running"
	StateComplete RunState = "complete"
	StateFailed   RunState = "failed"
	StateLost     RunState = "lost"
	StateSkipped  RunState = "skipped"
	// StateLaunched ends a sysbatch tick's record: a run of the tick exists on each
	// node the record lists (Run.Nodes), each with its own record and outcome.
	StateLaunched RunState = "launched"
	// StateRestarting is never a record's: it is the state of the Event published when
	// an execution failed and its runner starts the run again on its node after the
	// job's restart delay. The run's outcome is the event of its last execution.
	StateRestarting RunState = "restarting"
)

// Terminal reports whether nothing follows s.
func (s RunState) Terminal() bool {
	return s == StateComplete || s == StateFailed || s == StateLost || s == StateSkipped || s == StateLaunched
}

// Allocation is one placement of a run on a node: the first launch, a re-placement of
// a launch whose node died before claiming it, a reschedule after a lost run (each
// made by the ticker), or a restart after a failed execution (made by the runner
// that ran it, on its own node and session).
type Allocation struct {
	// ID is 8 hex digits, unique per allocation.
	ID string `json:"id"`
	// Node is the node name the launch went to; empty while no node is eligible.
	Node   string `json:"node,omitempty"`
	NodeID string `json:"node_id,omitempty"`
	// Session is the runner process that claimed it (Member.Session).
	Session string   `json:"session,omitempty"`
	State   RunState `json:"state"`
	// Created is when the ticker placed it (or the runner made a restart); Started
	// and Finished are the runner's.
	Created  time.Time  `json:"created"`
	Started  *time.Time `json:"started,omitempty"`
	Finished *time.Time `json:"finished,omitempty"`
	ExitCode *int       `json:"exit_code,omitempty"`
	// Error says why it failed or was lost.
	Error string `json:"error,omitempty"`
	// Restart is, for an allocation its runner made to start a failed execution
	// again, which restart it is (1 to RestartOf, the job's restart.attempts when it
	// was placed); 0 for one the ticker placed.
	Restart   int `json:"restart,omitempty"`
	RestartOf int `json:"restart_of,omitempty"`
	// Reason says why a restart exists: "restart 1 of 2 at <due> after exit code 3".
	Reason string `json:"reason,omitempty"`
}

// Run is the record of one run (one tick of one job) in RunStateBucket. Every write
// is revision-checked, so two writers never both move it from the same state.
//
// A sysbatch job's tick has a record of this kind under RunKey that lists its nodes
// (Nodes) and holds no allocation, and one run per node under NodeRunKey (Node set,
// ID a NodeRunID), each launched, claimed and recorded as a batch job's run.
type Run struct {
	ID        string `json:"id"`
	Job       string `json:"job"`
	Scheduled int64  `json:"scheduled"`
	// State is the run's state: that of its last allocation, or skipped; but running
	// while a restart's allocation is queued for its delay, so that the run stays
	// active (prohibit_overlap, the ticker's lost-node sweep) between executions.
	State RunState `json:"state"`
	// Reason says why a run was skipped or is still queued.
	Reason string `json:"reason,omitempty"`
	// Forced marks a run made by `job periodic force`.
	Forced bool `json:"forced,omitempty"`
	// Backfill marks a run made by `job backfill`: it may wait for its turn behind
	// the job's other runs (prohibit_overlap) however old its tick is.
	Backfill bool `json:"backfill,omitempty"`
	// Jitter is how long after its tick the run was due: the job's periodic.jitter
	// offset for the tick.
	Jitter Millis `json:"jitter_ms,omitempty"`
	// Late is how long after it was due (its tick plus Jitter) the run's current
	// allocation was placed.
	Late Millis `json:"late_ms"`
	// Attempts counts reschedules after lost allocations.
	Attempts int `json:"attempts"`
	// Node is set on a sysbatch job's run on one node: the run is that node's, and
	// runs there or nowhere (it is never re-placed or rescheduled on another node).
	Node string `json:"node,omitempty"`
	// Nodes is set on a sysbatch tick's record: the nodes the tick was placed on,
	// decided once from the ticker's view of the nodes when the tick was due. Each
	// has a run of the tick under NodeRunKey.
	Nodes []string `json:"nodes,omitempty"`
	// Restarts counts the restarts of failed executions its runners made (the
	// allocations with Restart set).
	Restarts    int          `json:"restarts,omitempty"`
	Allocations []Allocation `json:"allocations,omitempty"`
}

// Current is the run's last allocation, nil if it has none.
func (r *Run) Current() *Allocation {
	if len(r.Allocations) == 0 {
		return nil
	}
	return &r.Allocations[len(r.Allocations)-1]
}

// Launch is the message that tells a runner to run an allocation, published on
// LaunchSubject with MsgIDHeader = its MsgID().
type Launch struct {
	RunID     string `json:"run_id"`
	Job       string `json:"job"`
	Scheduled int64  `json:"scheduled"`
	// Alloc is the allocation's index in the run (1-based) and AllocID its ID.
	Alloc   int    `json:"alloc"`
	AllocID string `json:"alloc_id"`
	Node    string `json:"node"`
	// Revision is the run record's revision at placement: the runner claims the run by
	// updating the record from exactly this revision, so a launch that was re-placed,
	// declared lost or published twice can be claimed at most once.
	Revision uint64 `json:"revision"`
	// Run is the run record as stored at Revision: the runner writes its claim from it
	// without reading the record first.
	Run json.RawMessage `json:"run"`
	// Task is the job's task as JSON (the job package's Task).
	Task json.RawMessage `json:"task"`
	// Restart is the job's restart policy: how often the runner that claimed the
	// allocation starts a failed run again itself.
	Restart Restart `json:"restart"`
	// Late is how long after its tick the launch was published.
	Late Millis `json:"late_ms"`
	// Republish counts publications again of a launch left unclaimed (0: the first).
	Republish int `json:"republish,omitempty"`
}

// Restart is a job's restart policy, as the runner applies it: after a failed
// execution, up to Attempts more on the same node, each Delay after the last ended.
type Restart struct {
	Attempts int    `json:"attempts,omitempty"`
	Delay    Millis `json:"delay_ms,omitempty"`
}

// MsgID is the launch's de-duplication ID: MsgID, or RepublishMsgID for a
// publication again.
func (l *Launch) MsgID() string {
	if l.Republish > 0 {
		return RepublishMsgID(l.RunID, l.Alloc, l.Republish)
	}
	return MsgID(l.RunID, l.Alloc)
}

// Event is one change of a run, published on EventSubject so that
// `nats stream view runs` tells each run's story.
type Event struct {
	RunID    string   `json:"run_id"`
	Job      string   `json:"job"`
	State    RunState `json:"state"`
	Node     string   `json:"node,omitempty"`
	AllocID  string   `json:"alloc_id,omitempty"`
	ExitCode *int     `json:"exit_code,omitempty"`
	Late     Millis   `json:"late_ms,omitempty"`
	Duration Millis   `json:"duration_ms,omitempty"`
	Reason   string   `json:"reason,omitempty"`
	// Restart is the allocation's Restart: which restart of a failed execution it
	// is (0: an allocation the ticker placed). Its running event is not the run's
	// start (the run started with its first execution).
	Restart int       `json:"restart,omitempty"`
	Time    time.Time `json:"time"`
}

// JobState is the ticker's record of a job in JobStateBucket under Token(job key).
type JobState struct {
	Job string `json:"job"`
	// Valid is false when the newest version in the jobs bucket is invalid; Error then
	// says why. Spec and Revision are the last valid version, which keeps running.
	Valid    bool   `json:"valid"`
	Error    string `json:"error,omitempty"`
	Spec     string `json:"spec,omitempty"`
	Revision uint64 `json:"revision,omitempty"`
	// Removed is set when the job was deleted from the jobs bucket.
	Removed bool `json:"removed,omitempty"`
	// Deleted is when the job was last deleted from the jobs bucket, kept when it is
	// made again: runs of its ticks before then belong to the deleted job, and are
	// not relaunched when lost.
	Deleted time.Time `json:"deleted,omitzero"`
	// LastTick is the newest tick launched or recorded skipped (Unix seconds).
	LastTick int64 `json:"last_tick,omitempty"`
	// Open lists the run record keys of the job's runs that were not over when the
	// state was stored: queued or running, or ended with a reschedule to come. A
	// starting ticker reads these records instead of every record the runs bucket
	// keeps (RunsCheckpoint says why that is complete).
	Open []string `json:"open,omitempty"`
	// ListsOpen is set by tickers that keep Open. A state without it (stored by an
	// older version, which drops Open) voids the runs checkpoint.
	ListsOpen bool      `json:"lists_open,omitempty"`
	Updated   time.Time `json:"updated"`
}

// RunsCheckpoint is stored under CheckpointKey in JobStateBucket by the ticker that
// leads. It promises: every run whose record last changed at a runs bucket revision
// up to RunsRev and that is not over is listed in its job's JobState.Open. So a
// starting ticker reads the job states, the records they list, and only the changes
// to the runs bucket after RunsRev, however much history the bucket keeps.
type RunsCheckpoint struct {
	RunsRev uint64    `json:"runs_rev"`
	Written time.Time `json:"written"`
}

// Lock is the value of the ticker lock.
type Lock struct {
	Holder string    `json:"holder"`
	Since  time.Time `json:"since"`
}

// ForceReply answers a `job periodic force` request, or a `job backfill` one.
type ForceReply struct {
	RunID   string `json:"run_id,omitempty"`
	Skipped string `json:"skipped,omitempty"`
	Error   string `json:"error,omitempty"`
	// Backfill is the answer to a backfill request.
	Backfill *BackfillReply `json:"backfill,omitempty"`
}

// BackfillLimit is how many ticks one `job backfill` launches unless forced;
// BackfillForcedLimit bounds even a forced one.
const (
	BackfillLimit       = 10_000
	BackfillForcedLimit = 100_000
)

// BackfillRequest is the body of a request on ForceSubject that asks the ticker to
// launch each tick of the job in [From, To] (Unix seconds, both in the past) that has
// no run record yet; an empty body asks for a forced run instead.
type BackfillRequest struct {
	From  int64 `json:"from"`
	To    int64 `json:"to"`
	Force bool  `json:"force,omitempty"` // allow up to BackfillForcedLimit ticks
}

// BackfillReply says what a backfill did: of Ticks in the range, Launched got a new
// run (queued), Existing had a record already and were left alone, and Failed could
// not be written (asking again launches them).
type BackfillReply struct {
	Ticks    int    `json:"ticks"`
	Launched int    `json:"launched"`
	Existing int    `json:"existing"`
	Failed   int    `json:"failed,omitempty"`
	First    string `json:"first_run_id,omitempty"` // the oldest run launched
	Last     string `json:"last_run_id,omitempty"`  // the newest run launched
}
