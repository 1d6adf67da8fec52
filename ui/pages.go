package ui

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/jetcron/jetcron/job"
	"github.com/jetcron/jetcron/operator"
	"github.com/jetcron/jetcron/subjects"
)

// statusFilters are the job list's status filter, in the order it offers them.
var statusFilters = []string{
	operator.JobRunning, operator.JobPaused, operator.JobInvalid, operator.JobDead, operator.NoNode,
	string(subjects.StateFailed), string(subjects.StateLost), string(subjects.StateSkipped), string(subjects.StateComplete),
}

// jobsData is the job list's page.
type jobsData struct {
	Query      operator.JobQuery
	Page       *operator.JobPage
	Statuses   []string
	First      int // 1-based number of the page's first job
	Last       int // and of its last
	Total      string
	Prev, Next string
	Now        time.Time
}

// jobs serves the job list: ?q= (part of the name), ?status=, ?offset=, ?limit=.
func (s *server) jobs(ctx context.Context, r *http.Request, now time.Time) (view, error) {
	q := operator.JobQuery{Q: r.URL.Query().Get("q"), Status: r.URL.Query().Get("status")}
	var err error
	if q.Offset, err = intParam(r, "offset"); err != nil {
		return view{}, err
	}
	if q.Limit, err = intParam(r, "limit"); err != nil {
		return view{}, err
	}
	page, err := s.client.JobList(ctx, now, q)
	if err != nil {
		return view{}, err
	}
	q.Limit = page.Limit
	d := jobsData{Query: q, Page: page, Statuses: statusFilters, Total: count(page.Total), Now: now,
		First: page.Offset + 1, Last: page.Offset + len(page.Jobs)}
	d.Prev, d.Next = pageLinks(q, page.Total)
	return view{Title: "Jobs", Nav: "jobs", Data: d}, nil
}

// jobRuns is how many runs a job's page lists, newest first.
const jobRuns = 50

// jobData is a job's page.
type jobData struct {
	Status   *operator.JobStatus
	Spec     *job.Job // the version that launches; nil when none is valid
	Timeline timeline
	Runs     []subjects.Run
	Commands []string
	Now      time.Time
}

// job serves a job's page: its definition, its runs of TimelineWindow as a timeline,
// and its newest runs.
func (s *server) job(ctx context.Context, r *http.Request, now time.Time) (view, error) {
	name := r.PathValue("name")
	st, v, err := s.client.Job(ctx, name, now)
	if err != nil {
		return view{}, err
	}
	from := now.Add(-TimelineWindow)
	runs, err := s.client.RunsSince(ctx, name, from)
	if err != nil {
		return view{}, err
	}
	d := jobData{Status: st, Spec: v.LastSpec, Timeline: newTimeline(runs, from, now), Now: now,
		Commands: jobCommands(name, st.Status, st.Paused)}
	newest := runs[max(0, len(runs)-jobRuns):]
	d.Runs = slices.Clone(newest)
	slices.Reverse(d.Runs)
	return view{Title: name, Nav: "jobs", Data: d}, nil
}

// runData is a run's page.
type runData struct {
	ID  string
	Job string
	// Run is nil when only the run's output is left.
	Run     *subjects.Run
	Current *subjects.Allocation
	Reason  string
	// Delay is how long after its tick the run started; negative when it did not.
	Delay time.Duration
	// Ran is how long its current execution ran (so far); negative when unknown.
	Ran time.Duration
	// NodeRuns are a sysbatch tick's runs on its nodes.
	NodeRuns []subjects.Run
	Log      string
	// Follow is the stream the page's script follows the log by while the run has
	// not ended; "" once it has.
	Follow string
	// Classes maps run states to their classes (outcomeClasses), for the script.
	Classes  string
	Commands []string
}

// run serves a run's page: its record, its allocations and its log, which a script
// follows while the run has not ended.
func (s *server) run(ctx context.Context, r *http.Request, now time.Time) (view, error) {
	id := r.PathValue("id")
	name, _, err := subjects.ParseRunID(id)
	if err != nil {
		return view{}, err
	}
	logs, run, err := s.client.RunLogs(ctx, id)
	if err != nil {
		return view{}, err
	}
	d := runData{ID: id, Job: name, Run: run, Log: string(logs), Classes: outcomeClasses(), Delay: -1, Ran: -1}
	ended := run == nil || run.State.Terminal()
	d.Commands = runCommands(id, ended)
	if run != nil {
		d.Current, d.Reason, d.Delay = run.Current(), operator.RunReason(run), startDelay(run)
		if a := d.Current; a != nil && a.Started != nil {
			end := now
			if a.Finished != nil {
				end = *a.Finished
			}
			d.Ran = end.Sub(*a.Started)
		}
		if len(run.Nodes) > 0 && run.Node == "" {
			if d.NodeRuns, err = s.client.NodeRuns(ctx, run); err != nil {
				return view{}, err
			}
		}
	}
	if !ended {
		d.Follow = followURL(id)
	}
	return view{Title: id, Nav: "jobs", Data: d}, nil
}
