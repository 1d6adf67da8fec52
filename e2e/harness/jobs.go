package harness

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// JobSpec is a job under test: `@every Every` running the ledger script for
// Steps*Step. The harness computes its ticks itself (whole multiples of Every since
// the Unix epoch), independently of jetcron's cron parser.
type JobSpec struct {
	Every   time.Duration // whole seconds
	Steps   int           // default 1
	Step    time.Duration // default 200ms
	Overlap bool          // periodic.prohibit_overlap
	// CatchupWindow and Catchup are left to jetcron's defaults when empty.
	CatchupWindow time.Duration
	Catchup       string
	// RescheduleAttempts and RescheduleDelay; default 1 attempt after 1s.
	RescheduleAttempts int
	RescheduleDelay    time.Duration
	// Constraint, if set, is a regexp on ${attr.unique.hostname}.
	Constraint string
	// RestartAttempts and RestartDelay are the job's restart policy (none when 0).
	RestartAttempts int
	RestartDelay    time.Duration
	// FailFirst makes the first FailFirst executions of each tick fail (exit 1)
	// after their steps.
	FailFirst int
	// Sysbatch makes it type sysbatch: each tick on every eligible host.
	Sysbatch bool
	// Paused and PauseNote are the job file's pause: its ticks are recorded skipped
	// with PauseReason, none launches.
	Paused    bool
	PauseNote string
}

// jobType is the job file's type.
func (s JobSpec) jobType() string {
	if s.Sysbatch {
		return "sysbatch"
	}
	return "batch"
}

func (s JobSpec) steps() int {
	if s.Steps <= 0 {
		return 1
	}
	return s.Steps
}

func (s JobSpec) step() time.Duration {
	if s.Step <= 0 {
		return 200 * time.Millisecond
	}
	return s.Step
}

// YAML is the job file for key, writing to the ledger in dir.
func (s JobSpec) YAML(script, ledgerDir, key string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "datacenters: [dc1]\ntype: %s\n", s.jobType())
	if s.Constraint != "" {
		fmt.Fprintf(&b, "constraints:\n  - attribute: \"${attr.unique.hostname}\"\n    regexp: %q\n", s.Constraint)
	}
	fmt.Fprintf(&b, "periodic:\n  cron: \"@every %ds\"\n  prohibit_overlap: %v\n", int(s.Every/time.Second), s.Overlap)
	if s.CatchupWindow > 0 {
		fmt.Fprintf(&b, "  catchup_window: %s\n", s.CatchupWindow)
	}
	if s.Catchup != "" {
		fmt.Fprintf(&b, "  catchup: %s\n", s.Catchup)
	}
	attempts, delay := s.RescheduleAttempts, s.RescheduleDelay
	if attempts == 0 {
		attempts = 1
	}
	if delay == 0 {
		delay = time.Second
	}
	fmt.Fprintf(&b, "reschedule: {attempts: %d, delay: %s}\n", attempts, delay)
	if s.RestartAttempts > 0 {
		fmt.Fprintf(&b, "restart: {attempts: %d, delay: %s}\n", s.RestartAttempts, s.RestartDelay)
	}
	fmt.Fprintf(&b, "task:\n  driver: raw_exec\n  kill_timeout: 1s\n")
	if s.FailFirst > 0 {
		fmt.Fprintf(&b, "  env: {FAIL_FIRST: \"%d\"}\n", s.FailFirst)
	}
	fmt.Fprintf(&b, "  config:\n    command: /bin/sh\n")
	fmt.Fprintf(&b, "    args: [%q, %q, %q, %q]\n", script, filepath.Join(ledgerDir, key+".log"),
		strconv.Itoa(s.steps()), strconv.FormatFloat(s.step().Seconds(), 'f', 3, 64))
	if s.Paused {
		fmt.Fprintf(&b, "paused: true\n")
	}
	if s.PauseNote != "" {
		fmt.Fprintf(&b, "pause_note: %q\n", s.PauseNote)
	}
	return b.String()
}

// Ticks returns the ticks of the schedule in (from, to].
func (s JobSpec) Ticks(from, to time.Time) []int64 {
	p := int64(s.Every / time.Second)
	if p <= 0 || !to.After(from) {
		return nil
	}
	var out []int64
	for t := from.Unix()/p*p + p; t <= to.Unix(); t += p {
		if time.Unix(t, 0).After(from) {
			out = append(out, t)
		}
	}
	return out
}

// OnSchedule reports whether tick is one of the schedule's ticks.
func (s JobSpec) OnSchedule(tick int64) bool {
	p := int64(s.Every / time.Second)
	return p > 0 && tick%p == 0
}

// Def is one write of a job's key through `nats kv put` or `nats kv del`.
type Def struct {
	// Spec is the job written; nil for a deletion or a raw value.
	Spec    *JobSpec
	Deleted bool
	// Raw marks a value written as it is (PutRaw): not followed tick by tick; when
	// Invalid, jetcron must reject it and the previous valid version keeps running.
	Raw, Invalid bool
	Value        string
	Sent         time.Time
	Acked        time.Time // zero when the CLI failed: the write may or may not have landed
	Err          error
}

// OK reports whether the bucket acknowledged the write.
func (d *Def) OK() bool { return d.Err == nil }

// Book records every job definition written, for the checker: what was acknowledged
// and when.
type Book struct {
	mu   sync.Mutex
	defs map[string][]*Def
	keys []string
}

func newBook() *Book { return &Book{defs: map[string][]*Def{}} }

func (b *Book) add(key string, d *Def) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.defs[key]; !ok {
		b.keys = append(b.keys, key)
	}
	b.defs[key] = append(b.defs[key], d)
}

// Keys are the job keys written, in order of first write.
func (b *Book) Keys() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.keys...)
}

// Defs are the writes of key, in order.
func (b *Book) Defs(key string) []*Def {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*Def(nil), b.defs[key]...)
}

// WriteFile writes every definition to path, one per line in order of keys, for a
// failure to be analysed: when it was sent and acknowledged (or how it failed), and
// its schedule.
func (b *Book) WriteFile(path string) error {
	var buf strings.Builder
	for _, key := range b.Keys() {
		for _, d := range b.Defs(key) {
			what := "raw"
			switch {
			case d.Deleted:
				what = "delete"
			case d.Spec != nil:
				what = fmt.Sprintf("%s every %s overlap %v", d.Spec.jobType(), d.Spec.Every, d.Spec.Overlap)
				if d.Spec.Paused {
					what += fmt.Sprintf(" paused %q", d.Spec.PauseNote)
				}
			}
			acked := "not acknowledged: " + fmt.Sprint(d.Err)
			if d.OK() {
				acked = "acked " + d.Acked.Format("15:04:05.000")
			}
			fmt.Fprintf(&buf, "%s\tsent %s\t%s\t%s\n", key, d.Sent.Format("15:04:05.000"), acked, what)
		}
	}
	return os.WriteFile(path, []byte(buf.String()), 0o644)
}

// Env's job helpers.

// PutJob stores spec under key with `nats kv put jobs KEY VALUE`.
func (e *Env) PutJob(ctx context.Context, key string, spec JobSpec) error {
	return e.put(ctx, key, &Def{Spec: &spec, Value: spec.YAML(e.script, e.ledgerDir, key)})
}

// PutRaw stores value under key; invalid says jetcron must reject it.
func (e *Env) PutRaw(ctx context.Context, key, value string, invalid bool) error {
	return e.put(ctx, key, &Def{Raw: true, Invalid: invalid, Value: value})
}

func (e *Env) put(ctx context.Context, key string, d *Def) error {
	value := d.Value
	d.Sent = time.Now()
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	var err error
	if len(value) > 64<<10 {
		_, err = e.C.NATSInput(ctx, []byte(value), "kv", "put", "jobs", key)
	} else {
		_, err = e.C.NATS(ctx, "kv", "put", "jobs", key, value)
	}
	d.Err = err
	if err == nil {
		d.Acked = time.Now()
	}
	e.Book.add(key, d)
	if err != nil {
		e.Logf("nats kv put jobs %s: %v", key, err)
	}
	return err
}

// DelJob deletes key with `nats kv del jobs KEY -f`.
func (e *Env) DelJob(ctx context.Context, key string) error {
	d := &Def{Deleted: true, Sent: time.Now()}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	_, err := e.C.NATS(ctx, "kv", "del", "jobs", key, "-f")
	d.Err = err
	if err == nil {
		d.Acked = time.Now()
	}
	e.Book.add(key, d)
	if err != nil {
		e.Logf("nats kv del jobs %s: %v", key, err)
	}
	return err
}
