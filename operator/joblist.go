package operator

import (
	"context"
	"strings"
	"time"

	"github.com/jetcron/jetcron/subjects"
)

// Job list paging: the page size by default and at most.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// NoNode is the JobQuery.Status that keeps the jobs no node can run now.
const NoNode = "no-node"

// JobQuery selects one page of the job list. Its zero value is the first page of
// every job.
type JobQuery struct {
	// Q keeps the jobs whose name contains it, ignoring case; "" keeps all.
	Q string
	// Status keeps the jobs of one status (running, paused, invalid, dead), of one
	// last result (complete, failed, lost, skipped), or that no node can run now
	// (NoNode); "" keeps all.
	Status string
	// Offset is how many matching jobs come before the page; Limit the page's size
	// (0: DefaultPageSize; at most MaxPageSize).
	Offset, Limit int
}

// byResult reports whether the query filters on the last result, which must then be
// read for every job and not only for the page's.
func (q *JobQuery) byResult() bool {
	switch subjects.RunState(q.Status) {
	case subjects.StateComplete, subjects.StateFailed, subjects.StateLost, subjects.StateSkipped:
		return true
	}
	return false
}

// check fills the default page size and refuses what is out of range, naming the
// argument (errors are ErrInvalid).
func (q *JobQuery) check() error {
	switch q.Status {
	case "", JobRunning, JobPaused, JobInvalid, JobDead, NoNode:
	default:
		if !q.byResult() {
			return invalidf("status %q: want one of %s, %s, %s, %s, %s, %s, %s, %s or %s", q.Status,
				JobRunning, JobPaused, JobInvalid, JobDead, subjects.StateComplete, subjects.StateFailed,
				subjects.StateLost, subjects.StateSkipped, NoNode)
		}
	}
	if q.Offset < 0 {
		return invalidf("offset %d: want 0 or more", q.Offset)
	}
	if q.Limit == 0 {
		q.Limit = DefaultPageSize
	}
	if q.Limit < 0 || q.Limit > MaxPageSize {
		return invalidf("limit %d: want 1 to %d", q.Limit, MaxPageSize)
	}
	return nil
}

// JobListRow is a job of the job list: its JobRow, its next launch (zero when none)
// and, when no node can run it now, why.
type JobListRow struct {
	JobRow
	NextLaunch time.Time `json:"next_launch,omitzero"`
	Warning    string    `json:"warning,omitempty"`
}

// JobPage is one page of the jobs a JobQuery matches, in name order: Total of them
// match, and the page starts at the Offset-th (from 0).
type JobPage struct {
	Jobs   []JobListRow `json:"jobs"`
	Total  int          `json:"total"`
	Offset int          `json:"offset"`
	Limit  int          `json:"limit"`
}

// JobList returns one page of the job list at now: the jobs of Jobs that q matches,
// each with its last result, next launch and no-node warning. Most of a long list's
// time goes to parsing job files and reading last results, so JobList does only what
// the query needs: it parses every file only to filter on a job status or NoNode,
// and reads every last result only to filter on it; else only the page's. The error
// is ErrInvalid when q is out of range.
func (c *Client) JobList(ctx context.Context, now time.Time, q JobQuery) (*JobPage, error) {
	if err := q.check(); err != nil {
		return nil, err
	}
	recs, err := c.jobRecords(ctx, nil)
	if err != nil {
		return nil, err
	}
	nodes, err := c.PlacementNodes(ctx, now)
	if err != nil {
		return nil, err
	}
	var named []jobRecord
	for _, r := range recs {
		if q.matchesName(r.name) {
			named = append(named, r)
		}
	}
	rowsOf := func(recs []jobRecord) []JobListRow {
		rows := make([]JobListRow, len(recs))
		for i, r := range recs {
			v := r.view()
			rows[i] = JobListRow{JobRow: jobRow(v), NextLaunch: v.NextLaunch(now), Warning: noNodeWarning(v, nodes)}
		}
		return rows
	}
	var page []JobListRow
	var total int
	var last map[string]*subjects.Run // every job's, when the filter needs them
	switch {
	case q.Status == "":
		recs, n := pageOf(named, q)
		page, total = rowsOf(recs), n
	case q.byResult():
		if last, err = c.lastResults(ctx, nil); err != nil {
			return nil, err
		}
		var kept []jobRecord
		for _, r := range named {
			if q.matchesResult(last[r.name]) {
				kept = append(kept, r)
			}
		}
		recs, n := pageOf(kept, q)
		page, total = rowsOf(recs), n
	default:
		var matched []JobListRow
		for _, r := range rowsOf(named) {
			if q.matchesStatus(&r) {
				matched = append(matched, r)
			}
		}
		page, total = pageOf(matched, q)
	}
	if last == nil {
		tokens := make(map[string]bool, len(page))
		for _, r := range page {
			tokens[subjects.Token(r.ID)] = true
		}
		if last, err = c.lastResults(ctx, tokens); err != nil {
			return nil, err
		}
	}
	for i := range page {
		page[i].setLast(last[page[i].ID])
	}
	return &JobPage{Jobs: page, Total: total, Offset: q.Offset, Limit: q.Limit}, nil
}

// matchesName reports whether q keeps the job name: Q is part of it, ignoring case.
func (q *JobQuery) matchesName(name string) bool {
	return q.Q == "" || strings.Contains(strings.ToLower(name), strings.ToLower(q.Q))
}

// matchesStatus reports whether q's filter on a job status or NoNode (checked) keeps
// the row.
func (q *JobQuery) matchesStatus(r *JobListRow) bool {
	switch q.Status {
	case "":
		return true
	case NoNode:
		return r.Warning != ""
	}
	return r.Status == q.Status
}

// matchesResult reports whether q's filter on the last result keeps a job whose
// newest finished run is last (nil: none has finished).
func (q *JobQuery) matchesResult(last *subjects.Run) bool {
	return last != nil && string(last.State) == q.Status
}

// pageOf is the page of items q asks for (q checked), and how many items there are.
func pageOf[T any](items []T, q JobQuery) (page []T, total int) {
	from := min(q.Offset, len(items))
	return items[from:min(from+q.Limit, len(items))], len(items)
}
