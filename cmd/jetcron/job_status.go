package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/jetcron/jetcron/job"
	"github.com/jetcron/jetcron/operator"
	"github.com/jetcron/jetcron/subjects"
)

// cmdJobStatus is `jetcron job status [JOB | JOB/periodic-UNIX[/NODE]]`.
func cmdJobStatus(args []string, stdout, stderr io.Writer) int {
	c := newCommand(usage{name: "job status", args: "[JOB | JOB/periodic-UNIX[/NODE]]", synopsis: "With no argument, lists every job and its last result. With JOB, shows the\n" +
		"job, its next launch and its newest runs. With a run ID, shows the run, why it\n" +
		"failed or was skipped, and its allocations; a sysbatch tick's, its runs on each\n" +
		"node (JOB/periodic-UNIX/NODE)."})
	return c.remote(args, 0, 1, stdout, stderr, nil, func(ctx context.Context, cl *client, pos []string) error {
		now := time.Now()
		switch {
		case len(pos) == 0:
			return jobList(ctx, cl, c.json, stdout, stderr)
		case strings.Contains(pos[0], "/periodic-"):
			return runStatus(ctx, cl, pos[0], now, c.json, stdout)
		default:
			return jobStatus(ctx, cl, pos[0], now, c.json, stdout)
		}
	})
}

// warnTo returns a warn function that prints "Warning: ..." lines on w.
func warnTo(w io.Writer) func(string) {
	return func(msg string) { fmt.Fprintf(w, "Warning: %s\n", msg) }
}

// jobList prints every job in the jobs bucket, and the stopped ones the ticker still
// has a record of, with the state of each one's newest finished run.
func jobList(ctx context.Context, cl *client, asJSON bool, stdout, stderr io.Writer) error {
	rows, err := cl.Jobs(ctx, warnTo(stderr))
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(stdout, rows)
	}
	if len(rows) == 0 {
		fmt.Fprintln(stdout, "No jobs")
		return nil
	}
	tw := newTable(stdout)
	row(tw, "ID", "Type", "Priority", "Status", "Last Result")
	for _, r := range rows {
		typ, prio := orDash(r.Type), "-"
		if r.Type != "" {
			prio = strconv.Itoa(r.Priority)
		}
		row(tw, r.ID, typ, prio, r.Status, orDash(r.LastResult))
	}
	return tw.Flush()
}

// jobStatus prints `job status JOB`.
func jobStatus(ctx context.Context, cl *client, name string, now time.Time, asJSON bool, w io.Writer) error {
	st, v, err := cl.Job(ctx, name, now)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(w, st)
	}
	writeJobStatus(w, v, st.Status, st.Error, st.Warning, v.NextLaunch(now), now, st.Runs)
	return nil
}

// writeJobStatus prints the job's fields and its runs, as Nomad's `status JOB`.
func writeJobStatus(w io.Writer, v *operator.JobView, status, errText, warning string, next, now time.Time, runs []subjects.Run) {
	typ, prio, dcs := "-", "-", "-"
	if v.LastSpec != nil {
		typ, prio, dcs = v.LastSpec.Type, strconv.Itoa(v.LastSpec.Priority), datacenters(v.LastSpec)
	}
	fields := [][2]string{
		{"ID", v.Name}, {"Name", v.Name}, {"Type", typ}, {"Priority", prio},
		{"Datacenters", dcs}, {"Status", status},
	}
	if errText != "" {
		fields = append(fields, [2]string{"Error", errText})
	}
	fields = append(fields, pauseFields(v)...)
	if warning != "" {
		fields = append(fields, [2]string{"Warning", warning})
	}
	fields = append(fields, [2]string{"Periodic", "true"})
	paused, _ := v.Pause()
	switch {
	case status == operator.JobDead:
		fields = append(fields, [2]string{"Next Periodic Launch", "none (job stopped)"})
	case paused:
		fields = append(fields, [2]string{"Next Periodic Launch", "none (job paused: jetcron job resume " + v.Name + ")"})
	case v.LastSpec == nil:
		fields = append(fields, [2]string{"Next Periodic Launch", "none (no valid version)"})
	case next.IsZero():
		fields = append(fields, [2]string{"Next Periodic Launch", "never"})
	default:
		fields = append(fields, [2]string{"Next Periodic Launch",
			fmt.Sprintf("%s (%s from now)", formatTime(next, v.Location()), formatDuration(next.Sub(now)))})
	}
	printFields(w, fields)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Previously launched runs:")
	if len(runs) == 0 {
		fmt.Fprintln(w, "No runs yet")
		return
	}
	// A Reason column when a run has one (skipped: why; failed: its error).
	withReason := false
	for i := range runs {
		withReason = withReason || operator.RunReason(&runs[i]) != ""
	}
	tw := newTable(w)
	if !withReason {
		row(tw, "ID", "Status")
		for _, r := range runs {
			row(tw, r.ID, string(r.State))
		}
		tw.Flush()
		return
	}
	row(tw, "ID", "Status", "Reason")
	for i, r := range runs {
		row(tw, r.ID, string(r.State), orDash(operator.RunReason(&runs[i])))
	}
	tw.Flush()
}

// runStatus prints `job status JOB/periodic-UNIX[/NODE]`.
func runStatus(ctx context.Context, cl *client, runID string, now time.Time, asJSON bool, w io.Writer) error {
	name, _, err := subjects.ParseRunID(runID)
	if err != nil {
		return err
	}
	st, err := cl.RunStatus(ctx, runID)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(w, st)
	}
	v, err := cl.LoadJob(ctx, name)
	if err != nil {
		v = operator.NewJobView(name, nil, nil, nil) // the run outlived every trace of its job
	}
	if len(st.Nodes) > 0 && st.Node == "" {
		writeTickStatus(w, runID, st, v, now) // a sysbatch tick
		return nil
	}
	writeRunStatus(w, runID, &st.Run, v, now)
	return nil
}

// restartFields are the Restarts line of a run whose runner restarted a failed
// execution, and, while a restart waits for its delay, the Restarting line with its
// reason ("restart 2 of 2 at <due> after exit code 3").
func restartFields(r *subjects.Run) [][2]string {
	if r.Restarts == 0 {
		return nil
	}
	fields := [][2]string{{"Restarts", strconv.Itoa(r.Restarts)}}
	if a := r.Current(); a != nil && a.Restart > 0 && a.State == subjects.StateQueued {
		fields = append(fields, [2]string{"Restarting", a.Reason})
	}
	return fields
}

// restartOf is an allocation's Restart column: "1 of 2" for a restart of a failed
// execution, "-" for an allocation the ticker placed.
func restartOf(a *subjects.Allocation) string {
	if a.Restart == 0 {
		return "-"
	}
	return strconv.Itoa(a.Restart) + " of " + strconv.Itoa(a.RestartOf)
}

// failureFields are the Exit Code and Error lines of a run that failed or was lost:
// its current allocation's exit code ("-" when the process never exited by itself)
// and error.
func failureFields(r *subjects.Run) [][2]string {
	a := r.Current()
	if a == nil || (r.State != subjects.StateFailed && r.State != subjects.StateLost) {
		return nil
	}
	exit := "-"
	if a.ExitCode != nil {
		exit = strconv.Itoa(*a.ExitCode)
	}
	fields := [][2]string{{"Exit Code", exit}}
	if a.Error != "" {
		fields = append(fields, [2]string{"Error", a.Error})
	}
	return fields
}

// runFields are the fields `job status` shows first for a run or a sysbatch tick,
// as Nomad's `status JOB/periodic-UNIX`, and the name of its task group.
func runFields(runID string, r *subjects.Run, v *operator.JobView) (fields [][2]string, group string) {
	typ, prio, dcs, group := "-", "-", "-", v.Name
	if v.LastSpec != nil {
		typ, prio, dcs = v.LastSpec.Type, strconv.Itoa(v.LastSpec.Priority), datacenters(v.LastSpec)
		if g := v.LastSpec.Task.Name; g != "" {
			group = g
		}
	}
	fields = [][2]string{
		{"ID", runID}, {"Name", runID}, {"Type", typ}, {"Priority", prio},
		{"Datacenters", dcs}, {"Status", string(r.State)}, {"Periodic", "false"},
		{"Scheduled", formatTime(time.Unix(r.Scheduled, 0), v.Location())},
		{"Late", formatDuration(r.Late.Duration())},
	}
	if r.Forced {
		fields = append(fields, [2]string{"Forced", "true"})
	}
	return fields, group
}

// printSummary prints the Summary table: counts by state of a run's allocations, or
// of a sysbatch tick's node runs (withSkipped: a node run may be skipped).
func printSummary(w io.Writer, group string, counts map[subjects.RunState]int, withSkipped bool) {
	fmt.Fprintln(w, "\nSummary")
	tw := newTable(w)
	head := []string{"Task Group", "Queued", "Starting", "Running", "Failed", "Complete", "Lost"}
	cells := []string{group, strconv.Itoa(counts[subjects.StateQueued]), "0", strconv.Itoa(counts[subjects.StateRunning]),
		strconv.Itoa(counts[subjects.StateFailed]), strconv.Itoa(counts[subjects.StateComplete]), strconv.Itoa(counts[subjects.StateLost])}
	if withSkipped {
		head, cells = append(head, "Skipped"), append(cells, strconv.Itoa(counts[subjects.StateSkipped]))
	}
	row(tw, head...)
	row(tw, cells...)
	tw.Flush()
}

// writeRunStatus prints a run as Nomad's `status JOB/periodic-UNIX`: its fields (with
// the exit code and error of a failed or lost run), the summary of its allocations by
// state, and the allocations.
func writeRunStatus(w io.Writer, runID string, r *subjects.Run, v *operator.JobView, now time.Time) {
	loc := v.Location()
	fields, group := runFields(runID, r, v)
	if r.Reason != "" {
		fields = append(fields, [2]string{"Reason", r.Reason})
	}
	fields = append(fields, restartFields(r)...)
	fields = append(fields, failureFields(r)...)
	printFields(w, fields)

	counts := map[subjects.RunState]int{}
	for _, a := range r.Allocations {
		counts[a.State]++
	}
	printSummary(w, group, counts, false)

	fmt.Fprintln(w, "\nAllocations")
	if len(r.Allocations) == 0 {
		fmt.Fprintln(w, "No allocations placed")
		return
	}
	tw := newTable(w)
	restarted := r.Restarts > 0
	cols := []string{"ID", "Node ID", "Node", "Task Group", "Desired", "Status", "Created At", "Exit Code", "Duration"}
	if restarted {
		cols = append(cols, "Restart")
	}
	row(tw, cols...)
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
		cells := []string{a.ID, orDash(subjects.ShortID(a.NodeID)), orDash(a.Node), group, desired, string(a.State),
			formatTime(a.Created, loc), exit, dur}
		if restarted {
			cells = append(cells, restartOf(&a))
		}
		row(tw, cells...)
	}
	tw.Flush()
}

// datacenters lists a job's datacenters as Nomad does, "*" when any will do.
func datacenters(j *job.Job) string {
	if len(j.Datacenters) > 0 {
		return strings.Join(j.Datacenters, ",")
	}
	return "*"
}
