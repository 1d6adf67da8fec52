// Package subjects is the one place that names what jetcron puts on the wire: streams,
// buckets, subjects, durable consumer names, message IDs, run IDs, and the messages
// themselves. Nothing else in jetcron spells a subject string. Every name builder has
// its parser, and names that come from users (node names, job keys) are made safe here.
package subjects

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Buckets and streams users see (DESIGN.md, "Names users see").
const (
	// JobsBucket holds one key per job; the value is the job file (YAML).
	JobsBucket = "jobs"
	// NodesBucket holds one key per client node: its registration and heartbeat.
	NodesBucket = "nodes"
	// RunsStream holds every launch and every change of a run's state, as JSON.
	RunsStream = "runs"
)

// Buckets that are jetcron's own.
const (
	// RunStateBucket holds one record per run (key RunKey; NodeRunKey for a sysbatch
	// job's run on one node), written with revision-checked updates so that a run's
	// state only moves forward.
	RunStateBucket = "jetcron-runs"
	// JobStateBucket holds the ticker's view of each job (key Token(job key)): valid or
	// invalid with its error, the last valid file, the last launched tick.
	JobStateBucket = "jetcron-jobstate"
	// LockBucket holds the ticker lock (key LockKey); its TTL makes the lock expire
	// unless the holder renews it.
	LockBucket = "jetcron-lock"
	// ServersBucket holds one key per server agent: its registration and heartbeat.
	ServersBucket = "jetcron-servers"
	// LogsBucket holds the captured output tail of each run (key RunKey or
	// NodeRunKey, as its record).
	LogsBucket = "jetcron-logs"
	// LockKey is the ticker lock's key in LockBucket.
	LockKey = "ticker"
	// CheckpointKey is the RunsCheckpoint's key in JobStateBucket. It has a '.', which
	// Token never makes, so no job's state can have it.
	CheckpointKey = "ticker.checkpoint"
)

// Subjects of the runs stream and of requests to the ticker.
const (
	runsPrefix   = "runs"
	launchPrefix = runsPrefix + ".launch"
	eventPrefix  = runsPrefix + ".event"
	// RunsSubjects is the subject filter of the runs stream.
	RunsSubjects = runsPrefix + ".>"
	// forcePrefix is the subject prefix of `job periodic force` requests, answered by
	// the ticker that holds the lock.
	forcePrefix = "jetcron.ticker.force"
	// ForceSubjects is what the lock holder subscribes to for force requests.
	ForceSubjects = forcePrefix + ".*"
	// MsgIDHeader is JetStream's de-duplication header.
	MsgIDHeader = "Nats-Msg-Id"
	// LeaderRevHeader carries the ticker lock revision under which a launch was made.
	LeaderRevHeader = "Jetcron-Leader-Rev"
)

// ErrBadName is returned by the parsers when a name is not of the form they read.
var ErrBadName = errors.New("malformed name")

// Token makes any name safe as one subject token, KV key and durable name: letters,
// digits, '-' and '_' are kept, every other byte becomes "=XX" (upper-case hex). So
// "web-1.example.com" becomes "web-1=2Eexample=2Ecom". ParseToken reverses it.
func Token(name string) string {
	if isSafe(name) {
		return name
	}
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		if isSafeByte(c) {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "=%02X", c)
	}
	return b.String()
}

// ParseToken returns the name that Token made tok from.
func ParseToken(tok string) (string, error) {
	if !strings.Contains(tok, "=") {
		if !isSafe(tok) || tok == "" {
			return "", fmt.Errorf("token %q: %w", tok, ErrBadName)
		}
		return tok, nil
	}
	var b strings.Builder
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if c != '=' {
			if !isSafeByte(c) {
				return "", fmt.Errorf("token %q: %w", tok, ErrBadName)
			}
			b.WriteByte(c)
			continue
		}
		if i+2 >= len(tok) {
			return "", fmt.Errorf("token %q: %w", tok, ErrBadName)
		}
		v, err := strconv.ParseUint(tok[i+1:i+3], 16, 8)
		if err != nil {
			return "", fmt.Errorf("token %q: %w", tok, ErrBadName)
		}
		b.WriteByte(byte(v))
		i += 2
	}
	return b.String(), nil
}

func isSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isSafeByte(s[i]) {
			return false
		}
	}
	return true
}

func isSafeByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// LaunchSubject is where the launch of a run of job on node is published.
func LaunchSubject(node, job string) string {
	return launchPrefix + "." + Token(node) + "." + Token(job)
}

// LaunchFilter is the subject filter of node's runner consumer: every launch for it.
func LaunchFilter(node string) string { return launchPrefix + "." + Token(node) + ".>" }

// LaunchFilterAnyNode is LaunchFilter with the node a wildcard: it matches the filter
// of any node's runner consumer, in a permission.
const LaunchFilterAnyNode = launchPrefix + ".*.>"

// LaunchFilterAll matches every launch, for every node.
const LaunchFilterAll = launchPrefix + ".>"

// EventSubject is where each change of a run of job is published.
func EventSubject(job string) string { return eventPrefix + "." + Token(job) }

// EventFilter matches every run event of every job on the runs stream.
const EventFilter = eventPrefix + ".>"

// NotifyDurable is the durable consumer on the runs stream from which the servers
// deliver notifications: one for the whole cluster, so that each event is delivered
// by one server at a time and redelivered by another when that one dies.
const NotifyDurable = "jetcron-notify"

// DurableName is the name of node's durable runner consumer on the runs stream.
func DurableName(node string) string { return "runner-" + Token(node) }

// ForceSubject is the request subject of `job periodic force JOB`.
func ForceSubject(job string) string { return forcePrefix + "." + Token(job) }

// JobFromForceSubject reads the job back from a ForceSubject.
func JobFromForceSubject(subject string) (string, error) {
	tok, ok := strings.CutPrefix(subject, forcePrefix+".")
	if !ok {
		return "", fmt.Errorf("force subject %q: %w", subject, ErrBadName)
	}
	return ParseToken(tok)
}

const periodicInfix = "/periodic-"

// RunID names the run of job for the tick at: "<job>/periodic-<unix seconds>", as Nomad.
// For a sysbatch job it names the tick, whose runs on each node are NodeRunIDs.
func RunID(job string, tick time.Time) string {
	return job + periodicInfix + strconv.FormatInt(tick.Unix(), 10)
}

// NodeRunID names the run of a sysbatch job's tick at on node:
// "<job>/periodic-<unix seconds>/<node>". The node is its name as it is (a node name
// may hold any character, "/" included: everything after the tick is the node).
func NodeRunID(job string, tick time.Time, node string) string {
	return RunID(job, tick) + "/" + node
}

// ParseRunID reads a RunID or a NodeRunID back into its job and tick.
func ParseRunID(id string) (job string, tick time.Time, err error) {
	job, tick, _, err = SplitRunID(id)
	return job, tick, err
}

// SplitRunID reads a RunID or a NodeRunID back into its job, tick and node (empty for
// a RunID). Job names hold no "/", so the first "/periodic-" ends the job.
func SplitRunID(id string) (job string, tick time.Time, node string, err error) {
	bad := fmt.Errorf("run ID %q: want <job>/periodic-<unix seconds>[/<node>]: %w", id, ErrBadName)
	i := strings.Index(id, periodicInfix)
	if i <= 0 {
		return "", time.Time{}, "", bad
	}
	digits, node, hasNode := strings.Cut(id[i+len(periodicInfix):], "/")
	if hasNode && node == "" {
		return "", time.Time{}, "", bad
	}
	sec, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return "", time.Time{}, "", bad
	}
	return id[:i], time.Unix(sec, 0).UTC(), node, nil
}

// RunKey is the key of a run's record in RunStateBucket and of its output in
// LogsBucket: "<job token>.<unix seconds>". A sysbatch tick's record is here too; its
// runs on each node are under NodeRunKey.
func RunKey(job string, tick time.Time) string {
	return Token(job) + "." + strconv.FormatInt(tick.Unix(), 10)
}

// NodeRunKey is the key of the record (and output) of a sysbatch job's run on node
// for the tick at: RunKey and the node's token, "<job token>.<unix seconds>.<node
// token>". Tokens hold no ".", so the three parts read back unambiguously.
func NodeRunKey(job string, tick time.Time, node string) string {
	return RunKey(job, tick) + "." + Token(node)
}

// RunKeyOf is RunKey (or NodeRunKey) for a run ID.
func RunKeyOf(runID string) (string, error) {
	job, tick, node, err := SplitRunID(runID)
	if err != nil {
		return "", err
	}
	if node != "" {
		return NodeRunKey(job, tick, node), nil
	}
	return RunKey(job, tick), nil
}

// ParseRunKey reads a RunKey or a NodeRunKey back into its job, tick and node (empty
// for a RunKey).
func ParseRunKey(key string) (job string, tick time.Time, node string, err error) {
	parts := strings.Split(key, ".")
	if len(parts) < 2 || len(parts) > 3 {
		return "", time.Time{}, "", fmt.Errorf("run key %q: want <job>.<unix seconds>[.<node>]: %w", key, ErrBadName)
	}
	if job, err = ParseToken(parts[0]); err != nil {
		return "", time.Time{}, "", fmt.Errorf("run key %q: %w", key, err)
	}
	sec, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return "", time.Time{}, "", fmt.Errorf("run key %q: want <job>.<unix seconds>[.<node>]: %w", key, ErrBadName)
	}
	if len(parts) == 3 {
		if node, err = ParseToken(parts[2]); err != nil {
			return "", time.Time{}, "", fmt.Errorf("run key %q: %w", key, err)
		}
	}
	return job, time.Unix(sec, 0).UTC(), node, nil
}

// JobRunsFilter matches the keys of every run of job in RunStateBucket: its ticks'
// records (RunKey) and its sysbatch runs on each node (NodeRunKey).
func JobRunsFilter(job string) string { return Token(job) + ".>" }

// TickRunsFilter matches the keys of the runs on each node of a sysbatch job's tick
// at (NodeRunKey), not the tick's own record.
func TickRunsFilter(job string, tick time.Time) string { return RunKey(job, tick) + ".*" }

// MsgID is the de-duplication ID of a run's launch: the run ID (a NodeRunID for a
// sysbatch run, so each node's launch of a tick is its own message) for its first
// allocation, "<run ID>#<n>" for the n-th (a re-placement or a reschedule), so that
// two tickers publishing the same allocation store one message.
func MsgID(runID string, alloc int) string {
	if alloc <= 1 {
		return runID
	}
	return runID + "#" + strconv.Itoa(alloc)
}

// RepublishMsgID is the de-duplication ID of the n-th publication again (n >= 1) of an
// allocation's launch left unclaimed: distinct, so that the stream stores it even
// within its de-duplication window. Claims stay exclusive: every copy carries the same
// claim revision.
func RepublishMsgID(runID string, alloc, n int) string {
	return MsgID(runID, alloc) + "~" + strconv.Itoa(n)
}
