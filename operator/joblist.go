package operator

import (
	"context"
	"fmt"
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
// argument (errors wrap ErrInvalid).
func (q *JobQuery) check() error {
	switch q.Status {
	case "", JobRunning, JobPaused, JobInvalid, JobDead, NoNode:
	default:
		if !q.byResult() {
			return fmt.Errorf("status %q: want one of %s, %s, %s, %s, %s, %s, %s, %s or %s: %w", q.Status,
				JobRunning, JobPaused, JobInvalid, JobDead, subjects.StateComplete, subjects.StateFailed,
				subjects.StateLost, subjects.StateSkipped, NoNode, ErrInvalid)
		}
	}
	if q.Offset < 0 {
		return fmt.Errorf("offset %d: want 0 or more: %w", q.Offset, ErrInvalid)
	}
	if q.Limit == 0 {
		q.Limit = DefaultPageSize
	}
	if q.Limit < 0 || q.Limit > MaxPageSize {
		return fmt.Errorf("limit %d: want 1 to %d: %w", q.Limit, MaxPageSize, ErrInvalid)
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
// each with its last result, next launch and no-node warning. Unless q filters on
// the last result, only the page's jobs have theirs read, so that a page of a long
// list costs about as much as a short list. The error wraps ErrInvalid when q is
// out of range.
func (c *Client) JobList(ctx context.Context, now time.Time, q JobQuery) (*JobPage, error) {
	if err := q.check(); err != nil {
		return nil, err
	}
	views, err := c.jobViews(ctx, nil)
	if err != nil {
		return nil, err
	}
	nodes, err := c.PlacementNodes(ctx, now)
	if err != nil {
		return nil, err
	}
	rows := make([]JobListRow, len(views))
	for i, v := range views {
		rows[i] = JobListRow{JobRow: jobRow(v), NextLaunch: v.NextLaunch(now), Warning: noNodeWarning(v, nodes)}
	}
	if q.byResult() {
		if err := c.setLastResults(ctx, rows, nil); err != nil {
			return nil, err
		}
	}
	page, total := selectJobs(rows, q)
	if !q.byResult() {
		tokens := make(map[string]bool, len(page))
		for _, r := range page {
			tokens[subjects.Token(r.ID)] = true
		}
		if err := c.setLastResults(ctx, page, tokens); err != nil {
			return nil, err
		}
	}
	return &JobPage{Jobs: page, Total: total, Offset: q.Offset, Limit: q.Limit}, nil
}

// setLastResults sets the last result of rows, reading those of the jobs whose token
// tokens holds (nil: every job).
func (c *Client) setLastResults(ctx context.Context, rows []JobListRow, tokens map[string]bool) error {
	last, err := c.lastResults(ctx, tokens)
	if err != nil {
		return err
	}
	for i := range rows {
		rows[i].setLast(last[rows[i].ID])
	}
	return nil
}

// selectJobs keeps the rows q matches (q checked) and returns the page q asks for
// and how many matched. A filter on the last result reads the rows' LastResult.
func selectJobs(rows []JobListRow, q JobQuery) (page []JobListRow, total int) {
	needle := strings.ToLower(q.Q)
	var matched []JobListRow
	for _, r := range rows {
		if needle != "" && !strings.Contains(strings.ToLower(r.ID), needle) {
			continue
		}
		switch {
		case q.Status == "":
		case q.Status == NoNode:
			if r.Warning == "" {
				continue
			}
		case q.byResult():
			if r.LastResult != q.Status {
				continue
			}
		case r.Status != q.Status:
			continue
		}
		matched = append(matched, r)
	}
	from := min(q.Offset, len(matched))
	return matched[from:min(from+q.Limit, len(matched))], len(matched)
}
