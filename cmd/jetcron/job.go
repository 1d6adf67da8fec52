package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"gopkg.in/yaml.v3"

	"github.com/jetcron/jetcron/job"
	"github.com/jetcron/jetcron/subjects"
)

const (
	// defaultLaunches is how many next launches validate and run print.
	defaultLaunches = 5
	// maxLaunches bounds -count.
	maxLaunches = 1000
	// recentRuns is how many runs `job status JOB` lists, as Nomad.
	recentRuns = 10
	// forceTimeout bounds the wait for the ticker's answer to a force request.
	forceTimeout = 5 * time.Second
)

// Job statuses shown by `job status`.
const (
	jobRunning = "running" // the newest version is valid and launches
	jobInvalid = "invalid" // the newest version is invalid; the last valid one launches
	jobDead    = "dead"    // the job was stopped (deleted from the jobs bucket)
)

// ---- job validate, job run ----

// launchesJSON is the -json output of validate and run.
type launchesJSON struct {
	Job      string   `json:"job"`
	Valid    bool     `json:"valid"`
	Error    string   `json:"error,omitempty"`
	Revision uint64   `json:"revision,omitempty"`
	Launches []string `json:"launches,omitempty"`
}

// cmdJobValidate is `jetcron job validate [-from RFC3339] [-count N] FILE`.
func cmdJobValidate(args []string, stdout, stderr io.Writer) int {
	c := newCommand(usage{name: "job validate", args: "FILE", synopsis: "Validates a job file and prints its next launches (RFC 3339, in the job's\n" +
		"time zone, one a line). The job's name is the file's name: field, else the\n" +
		"file's base name without its extension. Needs no server: -address, -creds and\n" +
		"the -tls-* flags are accepted, as by every command, and unused."}, true)
	from := c.fs.String("from", "", "print the launches after this time (RFC 3339; default now)")
	count := c.fs.Int("count", defaultLaunches, "how many launches to print")
	pos, code, ok := c.parse(args, 1, 1, stdout, stderr)
	if !ok {
		return code
	}
	start := time.Now()
	if *from != "" {
		t, err := time.Parse(time.RFC3339, *from)
		if err != nil {
			fmt.Fprintf(stderr, "Error: -from %q is not an RFC 3339 time such as 2016-10-18T21:00:00Z\n", *from)
			return exitUsage
		}
		start = t
	}
	if *count < 0 || *count > maxLaunches {
		fmt.Fprintf(stderr, "Error: -count %d is not between 0 and %d\n", *count, maxLaunches)
		return exitUsage
	}
	name, data, err := readJobFile(pos[0])
	if err != nil {
		return c.fail(stderr, err)
	}
	j, err := job.Parse(name, data)
	if err != nil {
		return validationFailed(c.json, name, err, stdout, stderr)
	}
	ls := launches(j, start, *count)
	if c.json {
		if err := printJSON(stdout, launchesJSON{Job: name, Valid: true, Launches: ls}); err != nil {
			return c.fail(stderr, err)
		}
		return exitOK
	}
	fmt.Fprintln(stdout, "Job validation successful")
	printLaunches(stdout, ls)
	return exitOK
}

// cmdJobRun is `jetcron job run FILE`.
func cmdJobRun(args []string, stdout, stderr io.Writer) int {
	c := newCommand(usage{name: "job run", args: "FILE", synopsis: "Validates a job file, stores it in the " + subjects.JobsBucket + " bucket under the job's\n" +
		"name (its name: field, else the file's base name without its extension), and\n" +
		"prints its next launches. Storing a job that exists replaces it."}, true)
	count := c.fs.Int("count", defaultLaunches, "how many launches to print")
	pos, code, ok := c.parse(args, 1, 1, stdout, stderr)
	if !ok {
		return code
	}
	if *count < 0 || *count > maxLaunches {
		fmt.Fprintf(stderr, "Error: -count %d is not between 0 and %d\n", *count, maxLaunches)
		return exitUsage
	}
	name, data, err := readJobFile(pos[0])
	if err != nil {
		return c.fail(stderr, err)
	}
	j, err := job.Parse(name, data)
	if err != nil {
		return validationFailed(c.json, name, err, stdout, stderr)
	}
	cl, ctx, done, err := c.dial()
	if err != nil {
		return c.fail(stderr, err)
	}
	defer done()
	kv, err := cl.bucket(ctx, subjects.JobsBucket)
	if err != nil {
		return c.fail(stderr, err)
	}
	rev, err := kv.Put(ctx, name, data)
	if err != nil {
		return c.fail(stderr, fmt.Errorf("store job %q: %w", name, err))
	}
	ls := launches(j, time.Now(), *count)
	if c.json {
		if err := printJSON(stdout, launchesJSON{Job: name, Valid: true, Revision: rev, Launches: ls}); err != nil {
			return c.fail(stderr, err)
		}
		return exitOK
	}
	fmt.Fprintf(stdout, "Job %q stored (revision %d)\n", name, rev)
	printLaunches(stdout, ls)
	return exitOK
}

// readJobFile reads a job file and names the job: its name: field if it has one,
// else the file's base name without its extension.
func readJobFile(path string) (name string, data []byte, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", nil, fmt.Errorf("job file: %w", errors.Unwrap(err))
	}
	defer f.Close()
	data, err = io.ReadAll(io.LimitReader(f, subjects.MaxJobFileSize+1))
	if err != nil {
		return "", nil, fmt.Errorf("read job file %s: %w", path, err)
	}
	if len(data) > subjects.MaxJobFileSize {
		return "", nil, fmt.Errorf("job file %s is larger than %d bytes", path, subjects.MaxJobFileSize)
	}
	return jobName(path, data), data, nil
}

// jobName is the name: field of a job file, or its base name without extension when
// it has none (or is not YAML: the parser then says what is wrong).
func jobName(path string, data []byte) string {
	var head struct {
		Name string `yaml:"name"`
	}
	if err := yaml.Unmarshal(data, &head); err == nil && head.Name != "" {
		return head.Name
	}
	base := filepath.Base(path)
	return strings.TrimSuffix(base, filepath.Ext(base))
}

// validationFailed prints a job's validation error, every line of it, and returns 1.
func validationFailed(asJSON bool, name string, err error, stdout, stderr io.Writer) int {
	if asJSON {
		if perr := printJSON(stdout, launchesJSON{Job: name, Error: err.Error()}); perr != nil {
			return fail(stderr, perr)
		}
		return exitError
	}
	// A *job.ValidationError is one line per problem, each naming the job and field.
	fmt.Fprintln(stderr, strings.TrimRight(err.Error(), "\n"))
	return exitError
}

// launches returns the next n launches of j after from, in RFC 3339 in the job's
// time zone; fewer when the schedule ends.
func launches(j *job.Job, from time.Time, n int) []string {
	sched, loc := j.Schedule(), j.Location()
	out := make([]string, 0, n)
	t := from
	for range n {
		t = sched.Next(t)
		if t.IsZero() {
			break
		}
		out = append(out, t.In(loc).Format(time.RFC3339))
	}
	return out
}

func printLaunches(w io.Writer, ls []string) {
	for _, l := range ls {
		fmt.Fprintln(w, l)
	}
}

// ---- job status ----

// jobView is what jetcron knows of one job: its file in the jobs bucket and the
// ticker's record of it.
type jobView struct {
	name string
	// entry is the job's current value in the jobs bucket; nil when it was deleted.
	entry jetstream.KeyValueEntry
	// state is the ticker's record; nil when no ticker has seen the job yet.
	state *subjects.JobState
	// current is entry parsed, nil when it is invalid (parseErr) or absent.
	current  *job.Job
	parseErr error
	// lastSpec is the last valid version parsed: current, else the state's Spec, else
	// the newest version in the bucket's history.
	lastSpec *job.Job
}

// newJobView parses what is known of a job. history is its newest stored version
// when it is no longer in the bucket (may be nil).
func newJobView(name string, entry jetstream.KeyValueEntry, state *subjects.JobState, history []byte) *jobView {
	v := &jobView{name: name, entry: entry, state: state}
	if entry != nil {
		v.current, v.parseErr = job.Parse(name, entry.Value())
	}
	switch {
	case v.current != nil:
		v.lastSpec = v.current
	case state != nil && state.Spec != "":
		v.lastSpec, _ = job.Parse(name, []byte(state.Spec))
	case history != nil:
		v.lastSpec, _ = job.Parse(name, history)
	}
	return v
}

// status is running, invalid or dead; errText is the validation error of an invalid
// job. The ticker's verdict counts unless it predates the current version.
func (v *jobView) status() (status, errText string) {
	if v.entry == nil {
		return jobDead, ""
	}
	stateCurrent := v.state != nil && !v.state.Valid && !v.state.Updated.Before(v.entry.Created())
	switch {
	case stateCurrent && v.state.Error != "":
		return jobInvalid, v.state.Error
	case v.parseErr != nil:
		return jobInvalid, v.parseErr.Error()
	case stateCurrent:
		return jobInvalid, "invalid (the ticker gave no reason)"
	}
	return jobRunning, ""
}

// location is the last valid version's time zone, else UTC.
func (v *jobView) location() *time.Location {
	if v.lastSpec == nil {
		return time.UTC
	}
	return v.lastSpec.Location()
}

// nextLaunch is the next launch after now of the version that launches; zero when
// none does (dead, never valid, or a schedule that has ended).
func (v *jobView) nextLaunch(now time.Time) time.Time {
	if v.entry == nil || v.lastSpec == nil {
		return time.Time{}
	}
	return v.lastSpec.Schedule().Next(now)
}

// jobListJSON is one row of `job status -json`.
type jobListJSON struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Priority int    `json:"priority"`
	Status   string `json:"status"`
	Error    string `json:"error,omitempty"`
}

// runView is a run record with its key.
type runView struct {
	subjects.Run
	key string
}

// jobStatusJSON is the -json output of `job status JOB`.
type jobStatusJSON struct {
	ID                 string          `json:"id"`
	Name               string          `json:"name"`
	Type               string          `json:"type"`
	Priority           int             `json:"priority"`
	Datacenters        []string        `json:"datacenters"`
	Status             string          `json:"status"`
	Error              string          `json:"error,omitempty"`
	Periodic           bool            `json:"periodic"`
	NextPeriodicLaunch *time.Time      `json:"next_periodic_launch,omitempty"`
	Revision           uint64          `json:"revision,omitempty"`
	State              json.RawMessage `json:"state,omitempty"`
	Runs               []subjects.Run  `json:"runs"`
}

// cmdJobStatus is `jetcron job status [JOB | JOB/periodic-UNIX]`.
func cmdJobStatus(args []string, stdout, stderr io.Writer) int {
	c := newCommand(usage{name: "job status", args: "[JOB | JOB/periodic-UNIX]", synopsis: "With no argument, lists every job. With JOB, shows the job, its next launch\n" +
		"and its newest runs. With a run ID, shows the run and its allocations."}, true)
	pos, code, ok := c.parse(args, 0, 1, stdout, stderr)
	if !ok {
		return code
	}
	cl, ctx, done, err := c.dial()
	if err != nil {
		return c.fail(stderr, err)
	}
	defer done()

	now := time.Now()
	switch {
	case len(pos) == 0:
		err = jobList(ctx, cl, c.json, stdout, stderr)
	case strings.Contains(pos[0], "/periodic-"):
		err = runStatus(ctx, cl, pos[0], now, c.json, stdout)
	default:
		err = jobStatus(ctx, cl, pos[0], now, c.json, stdout)
	}
	if err != nil {
		return c.fail(stderr, err)
	}
	return exitOK
}

// jobList prints every job in the jobs bucket, and the stopped ones the ticker still
// has a record of.
func jobList(ctx context.Context, cl *client, asJSON bool, stdout, stderr io.Writer) error {
	jobsKV, err := cl.bucket(ctx, subjects.JobsBucket)
	if err != nil {
		return err
	}
	stateKV, err := cl.bucket(ctx, subjects.JobStateBucket)
	if err != nil {
		return err
	}
	jobEntries, err := entries(ctx, jobsKV, ">")
	if err != nil {
		return err
	}
	stateEntries, err := entries(ctx, stateKV, ">")
	if err != nil {
		return err
	}
	states := map[string]*subjects.JobState{}
	for _, e := range stateEntries {
		var s subjects.JobState
		if err := json.Unmarshal(e.Value(), &s); err != nil {
			fmt.Fprintf(stderr, "Warning: %s/%s is not a job state record: %v\n", subjects.JobStateBucket, e.Key(), err)
			continue
		}
		if s.Job == "" {
			if s.Job, err = subjects.ParseToken(e.Key()); err != nil {
				continue
			}
		}
		states[s.Job] = &s
	}
	var views []*jobView
	for _, e := range jobEntries {
		views = append(views, newJobView(e.Key(), e, states[e.Key()], nil))
		delete(states, e.Key())
	}
	for name, s := range states {
		views = append(views, newJobView(name, nil, s, nil))
	}
	sort.Slice(views, func(i, j int) bool { return views[i].name < views[j].name })

	rows := make([]jobListJSON, 0, len(views))
	for _, v := range views {
		status, errText := v.status()
		r := jobListJSON{ID: v.name, Status: status, Error: errText}
		if v.lastSpec != nil {
			r.Type, r.Priority = specType(v.lastSpec), specPriority(v.lastSpec)
		}
		rows = append(rows, r)
	}
	if asJSON {
		return printJSON(stdout, rows)
	}
	if len(rows) == 0 {
		fmt.Fprintln(stdout, "No jobs")
		return nil
	}
	tw := newTable(stdout)
	row(tw, "ID", "Type", "Priority", "Status")
	for _, r := range rows {
		typ, prio := orDash(r.Type), "-"
		if r.Type != "" {
			prio = strconv.Itoa(r.Priority)
		}
		row(tw, r.ID, typ, prio, r.Status)
	}
	return tw.Flush()
}

// loadJob reads what is known of job: its file, the ticker's record and, for a job no
// longer in the bucket without a record, its newest version in the bucket's history.
// It returns an error naming the job when nothing is known of it.
func loadJob(ctx context.Context, cl *client, name string) (*jobView, error) {
	jobsKV, err := cl.bucket(ctx, subjects.JobsBucket)
	if err != nil {
		return nil, err
	}
	stateKV, err := cl.bucket(ctx, subjects.JobStateBucket)
	if err != nil {
		return nil, err
	}
	var entry jetstream.KeyValueEntry
	if validKey(name) {
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
	if entry == nil && state == nil && validKey(name) {
		hs, err := jobsKV.History(ctx, name)
		if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil, fmt.Errorf("read job %q's history: %w", name, err)
		}
		for _, h := range hs {
			if h.Operation() == jetstream.KeyValuePut {
				history = h.Value()
			}
		}
		if history == nil {
			return nil, fmt.Errorf("job %q not found", name)
		}
	}
	return newJobView(name, entry, state, history), nil
}

// validKey reports whether name can be a key of the jobs bucket (NATS KV's rule:
// letters, digits and -/_=. without a leading or trailing dot). Such a key need not be
// a valid job name: `backup.v2` is stored, and shown invalid.
func validKey(name string) bool {
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

// recentRunsOf returns the newest n runs of job, oldest first.
func recentRunsOf(ctx context.Context, cl *client, name string, n int) ([]subjects.Run, error) {
	kv, err := cl.bucket(ctx, subjects.RunStateBucket)
	if err != nil {
		return nil, err
	}
	ks, err := keys(ctx, kv, subjects.JobRunsFilter(name))
	if err != nil {
		return nil, err
	}
	type keyed struct {
		key  string
		tick int64
	}
	var sorted []keyed
	for _, k := range ks {
		i := strings.LastIndexByte(k, '.')
		tick, err := strconv.ParseInt(k[i+1:], 10, 64)
		if err != nil {
			continue
		}
		sorted = append(sorted, keyed{k, tick})
	}
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].tick < sorted[j].tick })
	if len(sorted) > n {
		sorted = sorted[len(sorted)-n:]
	}
	runs := make([]subjects.Run, 0, len(sorted))
	for _, k := range sorted {
		e, err := kv.Get(ctx, k.key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // expired since the listing
		}
		if err != nil {
			return nil, fmt.Errorf("read run %s: %w", k.key, err)
		}
		var r subjects.Run
		if err := json.Unmarshal(e.Value(), &r); err != nil {
			return nil, fmt.Errorf("read run %s: %w", k.key, err)
		}
		if r.ID == "" {
			r.ID = subjects.RunID(name, time.Unix(k.tick, 0))
		}
		runs = append(runs, r)
	}
	return runs, nil
}

// jobStatus prints `job status JOB`.
func jobStatus(ctx context.Context, cl *client, name string, now time.Time, asJSON bool, w io.Writer) error {
	v, err := loadJob(ctx, cl, name)
	if err != nil {
		return err
	}
	runs, err := recentRunsOf(ctx, cl, name, recentRuns)
	if err != nil {
		return err
	}
	status, errText := v.status()
	next := v.nextLaunch(now)
	if asJSON {
		out := jobStatusJSON{ID: name, Name: name, Status: status, Error: errText, Periodic: true, Runs: runs}
		if v.lastSpec != nil {
			out.Type, out.Priority, out.Datacenters = specType(v.lastSpec), specPriority(v.lastSpec), specDatacenters(v.lastSpec)
		}
		if !next.IsZero() {
			out.NextPeriodicLaunch = &next
		}
		if v.entry != nil {
			out.Revision = v.entry.Revision()
		}
		if v.state != nil {
			out.State, _ = json.Marshal(v.state)
		}
		return printJSON(w, out)
	}
	writeJobStatus(w, v, status, errText, next, now, runs)
	return nil
}

// writeJobStatus prints the job's fields and its runs, as Nomad's `status JOB`.
func writeJobStatus(w io.Writer, v *jobView, status, errText string, next, now time.Time, runs []subjects.Run) {
	typ, prio, dcs := "-", "-", "-"
	if v.lastSpec != nil {
		typ, prio, dcs = specType(v.lastSpec), strconv.Itoa(specPriority(v.lastSpec)), datacenters(v.lastSpec)
	}
	fields := [][2]string{
		{"ID", v.name}, {"Name", v.name}, {"Type", typ}, {"Priority", prio},
		{"Datacenters", dcs}, {"Status", status},
	}
	if errText != "" {
		fields = append(fields, [2]string{"Error", errText})
	}
	fields = append(fields, [2]string{"Periodic", "true"})
	switch {
	case status == jobDead:
		fields = append(fields, [2]string{"Next Periodic Launch", "none (job stopped)"})
	case v.lastSpec == nil:
		fields = append(fields, [2]string{"Next Periodic Launch", "none (no valid version)"})
	case next.IsZero():
		fields = append(fields, [2]string{"Next Periodic Launch", "never"})
	default:
		fields = append(fields, [2]string{"Next Periodic Launch",
			fmt.Sprintf("%s (%s from now)", formatTime(next, v.location()), formatDuration(next.Sub(now)))})
	}
	printFields(w, fields)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Previously launched runs:")
	if len(runs) == 0 {
		fmt.Fprintln(w, "No runs yet")
		return
	}
	tw := newTable(w)
	row(tw, "ID", "Status")
	for _, r := range runs {
		row(tw, r.ID, string(r.State))
	}
	tw.Flush()
}

// runStatus prints `job status JOB/periodic-UNIX`.
func runStatus(ctx context.Context, cl *client, runID string, now time.Time, asJSON bool, w io.Writer) error {
	name, _, err := subjects.ParseRunID(runID)
	if err != nil {
		return err
	}
	key, err := subjects.RunKeyOf(runID)
	if err != nil {
		return err
	}
	kv, err := cl.bucket(ctx, subjects.RunStateBucket)
	if err != nil {
		return err
	}
	e, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("run %q not found", runID)
	}
	if err != nil {
		return fmt.Errorf("read run %q: %w", runID, err)
	}
	var r subjects.Run
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		return fmt.Errorf("read run %q: %w", runID, err)
	}
	if asJSON {
		return printJSON(w, r)
	}
	v, err := loadJob(ctx, cl, name)
	if err != nil {
		v = newJobView(name, nil, nil, nil) // the run outlived every trace of its job
	}
	writeRunStatus(w, runID, &r, v, now)
	return nil
}

// writeRunStatus prints a run as Nomad's `status JOB/periodic-UNIX`: its fields, the
// summary of its allocations by state, and the allocations.
func writeRunStatus(w io.Writer, runID string, r *subjects.Run, v *jobView, now time.Time) {
	loc := v.location()
	typ, prio, dcs, group := "-", "-", "-", v.name
	if v.lastSpec != nil {
		typ, prio, dcs = specType(v.lastSpec), strconv.Itoa(specPriority(v.lastSpec)), datacenters(v.lastSpec)
		if g := specTaskName(v.lastSpec); g != "" {
			group = g
		}
	}
	fields := [][2]string{
		{"ID", runID}, {"Name", runID}, {"Type", typ}, {"Priority", prio},
		{"Datacenters", dcs}, {"Status", string(r.State)}, {"Periodic", "false"},
		{"Scheduled", formatTime(time.Unix(r.Scheduled, 0), loc)},
		{"Late", formatDuration(r.Late.Duration())},
	}
	if r.Forced {
		fields = append(fields, [2]string{"Forced", "true"})
	}
	if r.Reason != "" {
		fields = append(fields, [2]string{"Reason", r.Reason})
	}
	printFields(w, fields)

	counts := map[subjects.RunState]int{}
	for _, a := range r.Allocations {
		counts[a.State]++
	}
	fmt.Fprintln(w, "\nSummary")
	tw := newTable(w)
	row(tw, "Task Group", "Queued", "Starting", "Running", "Failed", "Complete", "Lost")
	row(tw, group, strconv.Itoa(counts[subjects.StateQueued]), "0", strconv.Itoa(counts[subjects.StateRunning]),
		strconv.Itoa(counts[subjects.StateFailed]), strconv.Itoa(counts[subjects.StateComplete]), strconv.Itoa(counts[subjects.StateLost]))
	tw.Flush()

	fmt.Fprintln(w, "\nAllocations")
	if len(r.Allocations) == 0 {
		fmt.Fprintln(w, "No allocations placed")
		return
	}
	tw = newTable(w)
	row(tw, "ID", "Node ID", "Node", "Task Group", "Desired", "Status", "Created At", "Exit Code", "Duration")
	for i, a := range r.Allocations {
		desired := "run"
		if i < len(r.Allocations)-1 {
			desired = "stop" // replaced by a later allocation
		}
		exit := "-"
		if a.ExitCode != nil {
			exit = strconv.Itoa(*a.ExitCode)
		}
		dur := "-"
		switch {
		case a.Started != nil && a.Finished != nil:
			dur = formatDuration(a.Finished.Sub(*a.Started))
		case a.Started != nil && !a.State.Terminal():
			dur = formatDuration(now.Sub(*a.Started))
		}
		row(tw, a.ID, orDash(subjects.ShortID(a.NodeID)), orDash(a.Node), group, desired, string(a.State),
			formatTime(a.Created, loc), exit, dur)
	}
	tw.Flush()
}

// ---- job periodic force, job stop ----

// cmdJobPeriodicForce is `jetcron job periodic force JOB`.
func cmdJobPeriodicForce(args []string, stdout, stderr io.Writer) int {
	c := newCommand(usage{name: "job periodic force", args: "JOB", synopsis: "Asks the ticker that holds the lock to launch a run of JOB now, as Nomad's\n" +
		"`job periodic force`. The job's prohibit_overlap still applies: a run that\n" +
		"would overlap is skipped, and the command says why and exits 1."}, true)
	pos, code, ok := c.parse(args, 1, 1, stdout, stderr)
	if !ok {
		return code
	}
	name := pos[0]
	cl, ctx, done, err := c.dial()
	if err != nil {
		return c.fail(stderr, err)
	}
	defer done()
	if err := jobExists(ctx, cl, name); err != nil {
		return c.fail(stderr, err)
	}

	reply, err := forceRun(ctx, cl.nc, name)
	if err != nil {
		return c.fail(stderr, err)
	}
	if c.json {
		if err := printJSON(stdout, reply); err != nil {
			return c.fail(stderr, err)
		}
		if reply.RunID == "" {
			return exitError
		}
		return exitOK
	}
	switch {
	case reply.Error != "":
		return c.fail(stderr, fmt.Errorf("force %q: %s", name, reply.Error))
	case reply.Skipped != "":
		fmt.Fprintf(stdout, "Skipped: %s\n", reply.Skipped)
		return exitError
	case reply.RunID != "":
		fmt.Fprintf(stdout, "Run %q launched\n", reply.RunID)
		return exitOK
	}
	return c.fail(stderr, fmt.Errorf("force %q: the ticker gave an empty answer", name))
}

// forceRun asks the lock holder's ticker to launch a run of job now.
func forceRun(ctx context.Context, nc *nats.Conn, name string) (*subjects.ForceReply, error) {
	ctx, cancel := context.WithTimeout(ctx, forceTimeout)
	defer cancel()
	msg, err := nc.RequestWithContext(ctx, subjects.ForceSubject(name), nil)
	switch {
	case errors.Is(err, nats.ErrNoResponders), errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return nil, errors.New("no ticker holds the lock: is a quorum of jetcron servers up?")
	case err != nil:
		return nil, fmt.Errorf("force %q: %w", name, err)
	}
	var reply subjects.ForceReply
	if err := json.Unmarshal(msg.Data, &reply); err != nil {
		return nil, fmt.Errorf("force %q: unreadable answer from the ticker: %w", name, err)
	}
	return &reply, nil
}

// jobExists returns an error naming the job unless it is in the jobs bucket.
func jobExists(ctx context.Context, cl *client, name string) error {
	if !validKey(name) {
		return fmt.Errorf("job %q not found", name)
	}
	kv, err := cl.bucket(ctx, subjects.JobsBucket)
	if err != nil {
		return err
	}
	if _, err := kv.Get(ctx, name); errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("job %q not found", name)
	} else if err != nil {
		return fmt.Errorf("read job %q: %w", name, err)
	}
	return nil
}

// cmdJobStop is `jetcron job stop JOB`.
func cmdJobStop(args []string, stdout, stderr io.Writer) int {
	c := newCommand(usage{name: "job stop", args: "JOB", synopsis: "Deletes JOB from the " + subjects.JobsBucket + " bucket, as `nats kv del jobs JOB`: no new run\n" +
		"launches. Runs already running go on to their end."}, false)
	pos, code, ok := c.parse(args, 1, 1, stdout, stderr)
	if !ok {
		return code
	}
	name := pos[0]
	cl, ctx, done, err := c.dial()
	if err != nil {
		return c.fail(stderr, err)
	}
	defer done()
	if err := jobExists(ctx, cl, name); err != nil {
		return c.fail(stderr, err)
	}
	kv, err := cl.bucket(ctx, subjects.JobsBucket)
	if err != nil {
		return c.fail(stderr, err)
	}
	if err := kv.Delete(ctx, name); err != nil {
		return c.fail(stderr, fmt.Errorf("delete job %q: %w", name, err))
	}
	fmt.Fprintf(stdout, "Job %q stopped: deleted from the %s bucket, no new run will launch\n", name, subjects.JobsBucket)
	return exitOK
}

// ---- what the commands show of a job ----

func specType(j *job.Job) string { return j.Type }

func specPriority(j *job.Job) int { return j.Priority }

func specDatacenters(j *job.Job) []string { return j.Datacenters }

// specTaskName is the task group Nomad would show: the task's name.
func specTaskName(j *job.Job) string { return j.Task.Name }

// datacenters lists a job's datacenters as Nomad does, "*" when any will do.
func datacenters(j *job.Job) string {
	if dcs := specDatacenters(j); len(dcs) > 0 {
		return strings.Join(dcs, ",")
	}
	return "*"
}
