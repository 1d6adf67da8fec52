package main

import (
	"context"
	"fmt"
	"io"

	"github.com/jetcron/jetcron/operator"
	"github.com/jetcron/jetcron/subjects"
)

// cmdRunLogs is `jetcron run logs JOB/periodic-UNIX`.
func cmdRunLogs(args []string, stdout, stderr io.Writer) int {
	c := newCommand(usage{name: "run logs", args: "JOB/periodic-UNIX", synopsis: "Prints the captured output of a run: the tail of its combined stdout and\n" +
		"stderr, as the runner stored it in the " + subjects.LogsBucket + " bucket. The output goes to\n" +
		"stdout as it was captured; for a run that failed or was lost, its exit code and\n" +
		"error follow on stderr."})
	return c.remote(args, 1, 1, stdout, stderr, nil, func(ctx context.Context, cl *client, pos []string) error {
		runID := pos[0]
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
		switch {
		case r == nil:
		case r.State == subjects.StateFailed || r.State == subjects.StateLost:
			fmt.Fprintf(stderr, "Run %q %s: %s\n", runID, r.State, runOutcome(r))
		case logs != nil:
		case r.State.Terminal():
			fmt.Fprintf(stderr, "Run %q (%s) left no captured output\n", runID, r.State)
		default:
			fmt.Fprintf(stderr, "Run %q is %s: no output captured yet\n", runID, r.State)
		}
		return nil
	})
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
