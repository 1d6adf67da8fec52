package job

import (
	"encoding/json"
	"fmt"
	"reflect"
	"time"

	"github.com/robfig/cron/v3"
)

// Job is a periodic batch job: the parsed and validated job file stored
// under the job's name in the `jobs` bucket. Its YAML and JSON field names
// are the job file's.
type Job struct {
	Name        string       `yaml:"name" json:"name"`                                   // the key in the jobs bucket
	Datacenters []string     `yaml:"datacenters,omitempty" json:"datacenters,omitempty"` // globs such as "dc*"; empty means any
	Type        string       `yaml:"type" json:"type"`                                   // "batch" (the default) or "sysbatch"
	Priority    int          `yaml:"priority" json:"priority"`                           // 1 to 100, default 50
	Constraints []Constraint `yaml:"constraints,omitempty" json:"constraints,omitempty"`
	Periodic    Periodic     `yaml:"periodic" json:"periodic"`
	Restart     Restart      `yaml:"restart" json:"restart"`
	Reschedule  Reschedule   `yaml:"reschedule" json:"reschedule"`
	Task        Task         `yaml:"task" json:"task"`
	// Notify lists the webhooks told of the job's runs (DESIGN.md, "Notifications").
	Notify []Notify `yaml:"notify,omitempty" json:"notify,omitempty"`
	// Paused makes every tick skipped, with reason "paused: " and PauseNote, until
	// the job is stored again without it (`jetcron job pause` and `job resume` set
	// and clear both).
	Paused    bool   `yaml:"paused,omitempty" json:"paused,omitempty"`
	PauseNote string `yaml:"pause_note,omitempty" json:"pause_note,omitempty"`

	schedule cron.Schedule
	location *time.Location
}

// Job types.
const (
	// TypeBatch runs each tick once, on one eligible node (the default).
	TypeBatch = "batch"
	// TypeSysbatch runs each tick once on every eligible node, as Nomad's periodic
	// sysbatch: a run per node, pinned to it (never moved to another node).
	TypeSysbatch = "sysbatch"
)

// Sysbatch reports whether each tick runs on every eligible node.
func (j *Job) Sysbatch() bool { return j.Type == TypeSysbatch }

// Periodic says when a job launches.
type Periodic struct {
	Cron string `yaml:"cron,omitempty" json:"cron,omitempty"` // Nomad's cron syntax; see ParseSchedule
	// Crons are several expressions, as Nomad 1.6+: the job launches at the union of
	// their ticks, once where two meet. A job sets Cron or Crons, not both.
	Crons []string `yaml:"crons,omitempty" json:"crons,omitempty"`
	// Jitter delays each tick's launch by Offset(job, tick) in [0, Jitter), the same
	// on every ticker; the run ID stays the tick.
	Jitter          Duration `yaml:"jitter,omitempty" json:"jitter,omitempty"`
	ProhibitOverlap bool     `yaml:"prohibit_overlap" json:"prohibit_overlap"`
	TimeZone        string   `yaml:"time_zone" json:"time_zone"`           // IANA name, default "UTC"
	CatchupWindow   Duration `yaml:"catchup_window" json:"catchup_window"` // 0 to 7 days, default 10m
	Catchup         string   `yaml:"catchup" json:"catchup"`               // "all" (the default) or "latest"
}

// Reschedule says how often a run lost with its node runs again, on another
// eligible node; with OnFailure, also a run that failed once its restarts are spent.
type Reschedule struct {
	Attempts  int      `yaml:"attempts" json:"attempts"`                         // 0 to 100, default 1
	Delay     Duration `yaml:"delay" json:"delay"`                               // 0 to 24h, default 5s
	OnFailure bool     `yaml:"on_failure,omitempty" json:"on_failure,omitempty"` // default false
}

// Restart says how often a failed run is started again on the same node, as
// Nomad's restart stanza in mode "fail": after Delay, up to Attempts times.
type Restart struct {
	Attempts int      `yaml:"attempts" json:"attempts"` // 0 (the default) to 100
	Delay    Duration `yaml:"delay" json:"delay"`       // 0 to 24h, default 15s
}

// Task is the command a job runs, without a shell.
type Task struct {
	Name        string            `yaml:"name" json:"name"`     // default: the job's name
	Driver      string            `yaml:"driver" json:"driver"` // "raw_exec" (the default)
	Config      TaskConfig        `yaml:"config" json:"config"`
	Env         map[string]string `yaml:"env,omitempty" json:"env,omitempty"`
	Timeout     Duration          `yaml:"timeout" json:"timeout"`           // 0 (none) to 30 days
	KillTimeout Duration          `yaml:"kill_timeout" json:"kill_timeout"` // SIGTERM to SIGKILL, 0 to 1h, default 5s
	Resources   Resources         `yaml:"resources" json:"resources"`
	// WorkDir is the directory the command runs in, an absolute path that must exist
	// on the node; empty (the default): a fresh directory per run, removed after it.
	WorkDir string `yaml:"work_dir,omitempty" json:"work_dir,omitempty"`
	// User runs the command as this user (name or numeric uid) when the agent is
	// root; the node looks it up. Empty: the agent's user.
	User string `yaml:"user,omitempty" json:"user,omitempty"`
}

// TaskConfig is the raw_exec driver's configuration.
type TaskConfig struct {
	Command string   `yaml:"command" json:"command"`               // absolute and cleaned
	Args    []string `yaml:"args,omitempty" json:"args,omitempty"` // passed as they are, after Interpolate
}

// Resources are what a task needs, as in Nomad.
type Resources struct {
	CPU    int `yaml:"cpu" json:"cpu"`       // MHz, 0 to 1,000,000
	Memory int `yaml:"memory" json:"memory"` // MB, 0 to 10,000,000
}

// Schedule returns when the job launches, read from Periodic.Cron (or the union of
// Periodic.Crons) in
// Location. It is nil on a Job that came neither from Parse nor from JSON.
func (j *Job) Schedule() cron.Schedule { return j.schedule }

// Expressions returns the job's cron expressions: Periodic.Cron, or Periodic.Crons.
func (j *Job) Expressions() []string {
	if len(j.Periodic.Crons) > 0 {
		return j.Periodic.Crons
	}
	return []string{j.Periodic.Cron}
}

// Location returns the time zone of Periodic.TimeZone. It is nil on a Job
// that came neither from Parse nor from JSON.
func (j *Job) Location() *time.Location { return j.location }

// Parse decodes and validates the job file stored under key in the `jobs`
// bucket, applying defaults. Every problem found is reported in one
// *ValidationError, which matches ErrInvalid. A schedule with no launch
// after the current time is one such problem.
func Parse(key string, data []byte) (*Job, error) {
	j := defaultJob()
	d := &decoder{problems{lines: make(map[string]int)}}
	validateKey(&d.problems, key)
	root := readYAML(&d.problems, data)
	if root == nil {
		return nil, d.err(key)
	}
	d.decode(root, reflect.ValueOf(j).Elem(), "")
	j.validate(&d.problems, key, time.Now())
	if err := d.err(key); err != nil {
		return nil, err
	}
	return j, nil
}

// UnmarshalJSON decodes a job sent as JSON (by encoding/json from a Job)
// and validates it as Parse does, so that Schedule, Location and Eligible
// work on the result. Unlike Parse, it accepts a schedule whose launches are
// all in the past.
func (j *Job) UnmarshalJSON(b []byte) error {
	type plain Job // without this method
	v := plain(*defaultJob())
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("decode job: %w", err)
	}
	*j = Job(v)
	p := &problems{}
	validateKey(p, j.Name)
	j.validate(p, j.Name, time.Time{})
	return p.err(j.Name)
}
