package operator

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/jetcron/jetcron/job"
	"github.com/jetcron/jetcron/placement"
	"github.com/jetcron/jetcron/subjects"
)

// ErrInvalid is what every error that says an argument is malformed or out of range
// is (errors.Is); the message names the argument, and does not end in ErrInvalid's
// own text, so that a CLI or an HTTP answer can show it as it is.
var ErrInvalid = errors.New("invalid argument")

// invalidArg is an error that is ErrInvalid with a message of its own.
type invalidArg struct{ msg string }

func (e *invalidArg) Error() string        { return e.msg }
func (e *invalidArg) Is(target error) bool { return target == ErrInvalid }

// invalidf formats an error that is ErrInvalid.
func invalidf(format string, args ...any) error {
	return &invalidArg{msg: fmt.Sprintf(format, args...)}
}

// Plan limits: the window and the number of ticks one answer lists.
const (
	DefaultPlanWindow = 24 * time.Hour
	MaxPlanWindow     = 31 * 24 * time.Hour
	DefaultPlanLimit  = 1000
	MaxPlanLimit      = 10000
)

// PlanTick is one tick the ticker would launch, with where and what would block it.
type PlanTick struct {
	Job   string    `json:"job"`
	RunID string    `json:"run_id,omitempty"`
	Tick  time.Time `json:"tick,omitzero"`
	// Start is when the tick would start: the tick delayed by the job's jitter
	// offset (job.JitterOffset), the tick itself without periodic.jitter. The run ID
	// stays the tick's.
	Start time.Time `json:"start,omitzero"`
	// Eligible are the nodes that may take it now; Node the one the ticker would
	// pick among them, at equal load. A sysbatch tick runs on every eligible node:
	// Nodes lists them, and Node is empty.
	Eligible []string `json:"eligible,omitempty"`
	Node     string   `json:"node,omitempty"`
	Nodes    []string `json:"nodes,omitempty"`
	// Blocked says why the tick would not launch now: the job is invalid, paused
	// ("paused: NOTE", as the ticker records it), no node is eligible (and why: none
	// ready, a constraint, every one that fits draining), or an earlier run is still
	// running (prohibit_overlap).
	Blocked string `json:"blocked,omitempty"`
}

// Plan is every tick in [From, To) of the jobs asked for, in time order. When there
// are more than the limit, Truncated is set and Next is the tick to ask from for
// the rest.
type Plan struct {
	From      time.Time  `json:"from"`
	To        time.Time  `json:"to"`
	Ticks     []PlanTick `json:"ticks"`
	Truncated bool       `json:"truncated"`
	Next      *time.Time `json:"next,omitempty"`
}

// PlanQuery says what to plan: the window [From, From+Window) (From zero: now), one
// job or all (Job empty), and at most Limit ticks (0: DefaultPlanLimit).
type PlanQuery struct {
	From   time.Time
	Window time.Duration
	Job    string
	Limit  int
}

// Check fills the defaults and refuses what is out of range, naming the argument;
// Plan calls it too.
func (q *PlanQuery) Check(now time.Time) error {
	if q.From.IsZero() {
		q.From = now
	}
	if q.Window == 0 {
		q.Window = DefaultPlanWindow
	}
	if q.Window < 0 || q.Window > MaxPlanWindow {
		return invalidf("next %s: want a window above 0 and at most %s", q.Window, MaxPlanWindow)
	}
	if q.Limit == 0 {
		q.Limit = DefaultPlanLimit
	}
	if q.Limit < 0 || q.Limit > MaxPlanLimit {
		return invalidf("limit %d: want 1 to %d", q.Limit, MaxPlanLimit)
	}
	return nil
}

// Plan lists what the ticker would do in the query's window: every tick of each job's
// launching version, the nodes eligible now and the one placement would pick, and
// what would block the tick. It reads the jobs and nodes as they are now; a node
// that joins or a job changed later changes the plan.
func (c *Client) Plan(ctx context.Context, now time.Time, q PlanQuery) (*Plan, error) {
	if err := q.Check(now); err != nil {
		return nil, err
	}
	views, err := c.planViews(ctx, q.Job)
	if err != nil {
		return nil, err
	}
	nodes, err := c.PlacementNodes(ctx, now)
	if err != nil {
		return nil, err
	}
	to := q.From.Add(q.Window)
	var ticks []PlanTick
	for _, v := range views {
		blocked, err := c.overlapBlock(ctx, v)
		if err != nil {
			return nil, err
		}
		ticks = append(ticks, planJob(v, nodes, q.From, to, q.Limit+1, blocked)...)
	}
	sort.SliceStable(ticks, func(i, j int) bool { return ticks[i].Tick.Before(ticks[j].Tick) })
	p := &Plan{From: q.From, To: to, Ticks: ticks}
	if len(ticks) > q.Limit {
		next := ticks[q.Limit].Tick
		p.Ticks, p.Truncated, p.Next = ticks[:q.Limit], true, &next
	}
	return p, nil
}

// planViews reads the job name (ErrNotFound if unknown), or every job in the jobs
// bucket; a stopped job launches nothing and is not planned.
func (c *Client) planViews(ctx context.Context, name string) ([]*JobView, error) {
	if name != "" {
		v, err := c.LoadJob(ctx, name)
		if err != nil {
			return nil, err
		}
		return []*JobView{v}, nil
	}
	kv, err := c.Bucket(ctx, subjects.JobsBucket)
	if err != nil {
		return nil, err
	}
	entries, err := Entries(ctx, kv, ">")
	if err != nil {
		return nil, err
	}
	views := make([]*JobView, 0, len(entries))
	for _, e := range entries {
		views = append(views, NewJobView(e.Key(), e, nil, nil))
	}
	return views, nil
}

// overlapBlock says what would block the job's next tick under prohibit_overlap: its
// newest run (any node's run of its newest sysbatch tick), while that is queued or
// running ("" otherwise).
func (c *Client) overlapBlock(ctx context.Context, v *JobView) (string, error) {
	if v.Entry == nil || v.LastSpec == nil || !v.LastSpec.Periodic.ProhibitOverlap {
		return "", nil
	}
	runs, err := c.Runs(ctx, v.Name, RecentRuns)
	if err != nil || len(runs) == 0 {
		return "", err
	}
	newest := runs[len(runs)-1].Scheduled
	for _, r := range runs {
		if r.Scheduled == newest && !r.State.Terminal() {
			return "prohibit_overlap: " + r.ID + " is still " + string(r.State), nil
		}
	}
	return "", nil
}

// planJob lists at most limit ticks of v in [from, to), each with when it would
// start. A paused job's ticks are blocked by the pause; else overlap, if set, blocks
// the first of them. A job with no valid version is one row saying so, without a tick.
func planJob(v *JobView, nodes []placement.Node, from, to time.Time, limit int, overlap string) []PlanTick {
	if v.Entry == nil {
		return nil
	}
	spec := v.LastSpec
	if spec == nil {
		_, errText := v.Status()
		return []PlanTick{{Job: v.Name, Blocked: "invalid: " + errText}}
	}
	eligible, why := placement.Eligible(spec, nodes)
	names := make([]string, len(eligible))
	for i, n := range eligible {
		names[i] = n.Name
	}
	paused := spec.PauseReason()
	var out []PlanTick
	for t := spec.Schedule().Next(from.Add(-time.Nanosecond)); !t.IsZero() && t.Before(to) && len(out) < limit; t = spec.Schedule().Next(t) {
		start := t.Add(job.JitterOffset(v.Name, t, time.Duration(spec.Periodic.Jitter)))
		pt := PlanTick{Job: v.Name, RunID: subjects.RunID(v.Name, t), Tick: t, Start: start, Eligible: names}
		switch {
		case paused != "":
			pt.Blocked = paused
		case len(out) == 0 && overlap != "":
			pt.Blocked = overlap
		case len(eligible) == 0:
			pt.Blocked = "no eligible node: " + why
		case spec.Sysbatch():
			pt.Nodes = slices.Sorted(slices.Values(names)) // by name, as the ticker records them
		default:
			pt.Node = placement.Pick(eligible, nil, v.Name, t).Name
		}
		out = append(out, pt)
	}
	return out
}
