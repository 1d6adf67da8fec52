package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/jetcron/jetcron/operator"
	"github.com/jetcron/jetcron/subjects"
)

// writeTickStatus prints a sysbatch tick as `job status JOB/periodic-UNIX` shows it:
// the tick's fields with the nodes it was placed on, the summary of its node runs by
// state, and each node's run (its ID names the node: `job status` and `run logs` take
// it).
func writeTickStatus(w io.Writer, runID string, st *operator.RunStatus, v *operator.JobView, now time.Time) {
	loc := v.Location()
	fields, group := runFields(runID, &st.Run, v)
	fields = append(fields, [2]string{"Nodes", strings.Join(st.Nodes, ",")})
	printFields(w, fields)

	counts := map[subjects.RunState]int{}
	for _, r := range st.NodeRuns {
		counts[r.State]++
	}
	printSummary(w, group, counts, true)

	fmt.Fprintln(w, "\nNode runs")
	if len(st.NodeRuns) == 0 {
		fmt.Fprintln(w, "No node runs made yet")
		return
	}
	tw := newTable(w)
	row(tw, "ID", "Node", "Status", "Started At", "Exit Code", "Duration", "Error")
	for _, r := range st.NodeRuns {
		started, exit, dur := "-", "-", "-"
		if a := r.Current(); a != nil {
			if a.Started != nil {
				started = formatTime(*a.Started, loc)
			}
			if a.ExitCode != nil {
				exit = strconv.Itoa(*a.ExitCode)
			}
			switch {
			case a.Started != nil && a.Finished != nil:
				dur = formatDuration(a.Finished.Sub(*a.Started))
			case a.Started != nil && !a.State.Terminal():
				dur = formatDuration(now.Sub(*a.Started))
			}
		}
		row(tw, r.ID, r.Node, string(r.State), started, exit, dur, orDash(operator.RunReason(&r)))
	}
	tw.Flush()
}
