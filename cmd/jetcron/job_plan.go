package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jetcron/jetcron/operator"
)

// cmdJobPlan is `jetcron job plan [-next 24h] [-from T] [-limit N] [JOB]`.
func cmdJobPlan(args []string, stdout, stderr io.Writer) int {
	c := newCommand(usage{name: "job plan", args: "[JOB]", synopsis: "Lists every tick the ticker would launch in the next window, of every job or of\n" +
		"JOB: the nodes eligible now, the one that would be chosen at equal load, and\n" +
		"what would block the tick (an invalid file, a pause and its note, no eligible\n" +
		"node and why, a run still running under prohibit_overlap). With\n" +
		"periodic.jitter, Start is when each tick would start; its run ID stays the\n" +
		"tick's. The same as GET /v1/plan."})
	next := c.fs.Duration("next", operator.DefaultPlanWindow, "the window to plan, from -from")
	from := c.fs.String("from", "", "start of the window, RFC 3339 (default now); a truncated plan says where to go on")
	limit := c.fs.Int("limit", operator.DefaultPlanLimit, fmt.Sprintf("most ticks to list (up to %d)", operator.MaxPlanLimit))
	var q operator.PlanQuery
	check := func([]string) error {
		if *from != "" {
			t, err := time.Parse(time.RFC3339, *from)
			if err != nil {
				return fmt.Errorf("-from %q: want RFC 3339, e.g. 2026-12-07T15:00:00Z", *from)
			}
			q.From = t
		}
		q.Window, q.Limit = *next, *limit
		// Out of range before any server is asked; the window starts when it is sent.
		return (&operator.PlanQuery{From: q.From, Window: q.Window, Limit: q.Limit}).Check(time.Now())
	}
	return c.remote(args, 0, 1, stdout, stderr, check, func(ctx context.Context, cl *client, pos []string) error {
		if len(pos) == 1 {
			q.Job = pos[0]
		}
		p, err := cl.Plan(ctx, time.Now(), q)
		if err != nil {
			return err
		}
		if c.json {
			return printJSON(stdout, p)
		}
		printPlan(stdout, p)
		return nil
	})
}

// printPlan renders a plan as a table, with where to go on when it was cut.
func printPlan(w io.Writer, p *operator.Plan) {
	if len(p.Ticks) == 0 {
		fmt.Fprintf(w, "No ticks from %s to %s\n", formatTime(p.From, time.Local), formatTime(p.To, time.Local))
		return
	}
	// A Start column when a job's jitter delays a tick.
	jitter := false
	for _, t := range p.Ticks {
		jitter = jitter || !t.Start.Equal(t.Tick)
	}
	tw := newTable(w)
	if jitter {
		row(tw, "Tick", "Start", "Job", "Node", "Eligible", "Blocked")
	} else {
		row(tw, "Tick", "Job", "Node", "Eligible", "Blocked")
	}
	for _, t := range p.Ticks {
		node := t.Node
		if len(t.Nodes) > 0 {
			node = "every eligible: " + strings.Join(t.Nodes, ",") // sysbatch
		}
		cols := []string{formatTime(t.Tick, time.Local), t.Job, orDash(node), orDash(strings.Join(t.Eligible, ",")), orDash(t.Blocked)}
		if jitter {
			cols = append(cols[:1], append([]string{formatTime(t.Start, time.Local)}, cols[1:]...)...)
		}
		row(tw, cols...)
	}
	tw.Flush()
	if p.Truncated {
		fmt.Fprintf(w, "... more ticks: go on with -from %s\n", p.Next.Format(time.RFC3339))
	}
}
