package harness

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ledgerScript is the job under test: a shell script (the test's, not jetcron's: the
// product never runs a shell; the job's command is /bin/sh with this file as its first
// argument) that appends a start record, a beat every step after the first, and an
// end record to a ledger file that does not depend on NATS. A SIGTERM (timeout, agent
// shutdown) appends a term record; a SIGKILL appends nothing.
//
//	args: LEDGER STEPS STEP_SECONDS [ARGV_FILE ARGS...]
//
// With ARGV_FILE, the remaining arguments are written to it NUL-separated, so that the
// harness can check they arrived literally. With FAIL_FIRST=n in its environment, the
// first n executions of each tick (counted in a file beside the ledger, on whichever
// host they ran) append a fail record instead of the end record and exit 1.
const ledgerScript = `#!/bin/sh
L=$1; N=$2; S=$3
rec() { echo "$1 $(date +%s%N) $$ $JETCRON_NODE $JETCRON_RUN_ID $JETCRON_SCHEDULED $JETCRON_ALLOC_ID" >> "$L"; }
trap 'rec term; exit 143' TERM
rec start
F=0
if [ -n "$FAIL_FIRST" ]; then
  echo x >> "$L.$JETCRON_SCHEDULED.tries"
  if [ "$(wc -l < "$L.$JETCRON_SCHEDULED.tries")" -le "$FAIL_FIRST" ]; then F=1; fi
fi
if [ $# -ge 4 ]; then A=$4; shift 4; printf '%s\0' "$@" > "$A.tmp" && mv "$A.tmp" "$A"; fi
i=0
while [ "$i" -lt "$N" ]; do
  sleep "$S"
  i=$((i+1))
  if [ "$i" -lt "$N" ]; then rec beat; fi
done
if [ "$F" = 1 ]; then rec fail; exit 1; fi
rec end
`

// Exec is one execution of a job as the ledger saw it.
type Exec struct {
	Job, Run, Node, Alloc string
	Sched                 int64
	PID                   int
	Start                 time.Time
	// End is the time of the end (or term, or fail) record; zero if none was written
	// (killed, or still running).
	End  time.Time
	Term bool // ended by SIGTERM
	Fail bool // failed on purpose (FAIL_FIRST): exited 1
	// Last is the time of its newest record.
	Last time.Time
}

// Ended reports whether the execution wrote an end or term record.
func (e *Exec) Ended() bool { return !e.End.IsZero() }

func (e *Exec) String() string {
	end := "no end record"
	switch {
	case e.Fail:
		end = "failed " + e.End.Format("15:04:05.000")
	case e.Ended():
		end = "ended " + e.End.Format("15:04:05.000")
	}
	return fmt.Sprintf("%s alloc %s on %s pid %d started %s, %s", e.Run, e.Alloc, e.Node, e.PID, e.Start.Format("15:04:05.000"), end)
}

// readLedger reads every ledger file in dir (one per job) into executions, keyed by
// pid and allocation.
func readLedger(dir string) ([]*Exec, error) {
	files, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	byKey := map[string]*Exec{}
	var out []*Exec
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			if len(fs) != 7 {
				continue // a line cut by a kill
			}
			ns, err1 := strconv.ParseInt(fs[1], 10, 64)
			pid, err2 := strconv.Atoi(fs[2])
			sched, err3 := strconv.ParseInt(fs[5], 10, 64)
			if err1 != nil || err2 != nil || err3 != nil {
				continue
			}
			t := time.Unix(0, ns)
			key := fs[2] + "/" + fs[6]
			e := byKey[key]
			if e == nil {
				job, _, _ := strings.Cut(fs[4], "/periodic-")
				e = &Exec{Job: job, Run: fs[4], Node: fs[3], Alloc: fs[6], Sched: sched, PID: pid, Start: t}
				byKey[key] = e
				out = append(out, e)
			}
			switch fs[0] {
			case "start":
				e.Start = t
			case "end":
				e.End = t
			case "term":
				e.End, e.Term = t, true
			case "fail":
				e.End, e.Fail = t, true
			}
			if t.After(e.Last) {
				e.Last = t
			}
		}
		fh.Close()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out, nil
}
