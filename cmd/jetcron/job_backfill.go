package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/jetcron/jetcron/operator"
	"github.com/jetcron/jetcron/subjects"
)

// cmdJobBackfill is `jetcron job backfill JOB -from T1 -to T2 [-force]`.
func cmdJobBackfill(args []string, stdout, stderr io.Writer) int {
	c := newCommand(usage{name: "job backfill", args: "JOB", synopsis: fmt.Sprintf("Launches each tick of JOB from -from to -to (both included, both in the past)\n"+
		"that has no run record yet, once, with its usual run ID; ticks that ran or were\n"+
		"skipped are left alone, so running it twice launches nothing new. A range of\n"+
		"more than %d ticks needs -force. With prohibit_overlap the runs go one after\n"+
		"another, oldest first.", subjects.BackfillLimit)})
	from := c.fs.String("from", "", "first tick, RFC 3339 (required)")
	to := c.fs.String("to", "", "last tick, RFC 3339 (required)")
	force := c.fs.Bool("force", false, fmt.Sprintf("allow up to %d ticks", subjects.BackfillForcedLimit))
	var q operator.BackfillQuery
	check := func([]string) error {
		for _, f := range []struct {
			name, text string
			into       *time.Time
		}{{"-from", *from, &q.From}, {"-to", *to, &q.To}} {
			if f.text == "" {
				return fmt.Errorf("%s is required", f.name)
			}
			t, err := time.Parse(time.RFC3339, f.text)
			if err != nil {
				return fmt.Errorf("%s %q: want RFC 3339, e.g. 2026-12-07T15:00:00Z", f.name, f.text)
			}
			*f.into = t
		}
		return q.Check(time.Now()) // the range itself, before any server is asked
	}
	return c.remote(args, 1, 1, stdout, stderr, check, func(ctx context.Context, cl *client, pos []string) error {
		q.Job, q.Force = pos[0], *force
		r, err := cl.Backfill(ctx, time.Now(), q)
		if err != nil {
			return err
		}
		if c.json {
			return printJSON(stdout, r)
		}
		fmt.Fprintf(stdout, "%d ticks from %s to %s: %d launched, %d had a record and were left alone\n",
			r.Ticks, formatTime(q.From, time.Local), formatTime(q.To, time.Local), r.Launched, r.Existing)
		if r.Launched > 0 {
			fmt.Fprintf(stdout, "Runs %s .. %s; follow them with `jetcron job status %s`\n", r.First, r.Last, q.Job)
		}
		if r.Failed > 0 {
			return fmt.Errorf("%d ticks could not be recorded; run the same command again to launch them", r.Failed)
		}
		return nil
	})
}
