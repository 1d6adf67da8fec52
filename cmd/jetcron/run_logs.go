package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/jetcron/jetcron/operator"
	"github.com/jetcron/jetcron/subjects"
)

// cmdRunLogs is `jetcron run logs [-f] JOB/periodic-UNIX[/NODE]`.
func cmdRunLogs(args []string, stdout, stderr io.Writer) int {
	c := newCommand(usage{name: "run logs", args: "JOB/periodic-UNIX[/NODE]", synopsis: "Prints the captured output of a run: the tail of its combined stdout and\n" +
		"stderr, as the runner stored it in the " + subjects.LogsBucket + " bucket. The output goes to\n" +
		"stdout as it was captured; for a run that failed or was lost, its exit code and\n" +
		"error follow on stderr. With -f, follows the run until it ends, printing its\n" +
		"lines as it prints them (with -json, one object a line at each change)."})
	follow := c.fs.Bool("f", false, "follow the run until it ends")
	return c.remote(args, 1, 1, stdout, stderr, nil, func(ctx context.Context, cl *client, pos []string) error {
		runID := pos[0]
		if *follow {
			return followRun(ctx, cl, runID, c.json, stdout, stderr)
		}
		logs, r, err := cl.RunLogs(ctx, runID)
		if err != nil {
			return err
		}
		if c.json {
			return printJSON(stdout, operator.RunOutput{RunID: runID, Output: string(logs), Run: r})
		}
		if _, err := stdout.Write(logs); err != nil {
			return fmt.Errorf("write the output of run %q: %w", runID, err)
		}
		sayHowRunEnded(stderr, runID, r, logs != nil)
		return nil
	})
}

// followRun prints the run's output as it comes (the lines its runner publishes live,
// then what the stored tail adds), each part once, until the run ends; then how it
// ended, as run logs does.
func followRun(ctx context.Context, cl *client, runID string, asJSON bool, stdout, stderr io.Writer) error {
	enc := json.NewEncoder(stdout)
	var last operator.RunOutput
	err := cl.FollowRun(ctx, runID, func(o operator.RunOutput) error {
		last = o
		if asJSON {
			return enc.Encode(o)
		}
		_, err := io.WriteString(stdout, o.Fresh)
		return err
	})
	if err != nil || asJSON {
		return err
	}
	sayHowRunEnded(stderr, runID, last.Run, last.Output != "")
	return nil
}

// sayHowRunEnded tells on w why a run left no output, or how a failed or lost run
// ended.
func sayHowRunEnded(w io.Writer, runID string, r *subjects.Run, hasOutput bool) {
	switch {
	case r == nil:
	case len(r.Nodes) > 0 && r.Node == "":
		fmt.Fprintf(w, "Run %q is a sysbatch tick (%s): its output is each node's run's, e.g. run logs %s\n",
			runID, r.State, subjects.NodeRunID(r.Job, time.Unix(r.Scheduled, 0), r.Nodes[0]))
	case r.State == subjects.StateFailed || r.State == subjects.StateLost:
		fmt.Fprintf(w, "Run %q %s: %s\n", runID, r.State, runOutcome(r))
	case hasOutput:
	case r.State.Terminal():
		fmt.Fprintf(w, "Run %q (%s) left no captured output\n", runID, r.State)
	default:
		fmt.Fprintf(w, "Run %q is %s: no output captured yet\n", runID, r.State)
	}
}

// runOutcome says how a failed or lost run ended in a line: its exit code, if the
// process exited by itself, and its error.
func runOutcome(r *subjects.Run) string {
	exit := "no exit code"
	if a := r.Current(); a != nil && a.ExitCode != nil {
		exit = fmt.Sprintf("exit code %d", *a.ExitCode)
	}
	if reason := operator.RunReason(r); reason != "" {
		return exit + ": " + reason
	}
	return exit
}
