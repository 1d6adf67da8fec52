package operator

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jetcron/jetcron/subjects"
)

func TestJobQueryMatchesByNameAndStatus(t *testing.T) {
	row := func(status, last, warning string) JobListRow {
		return JobListRow{JobRow: JobRow{Status: status, LastResult: last}, Warning: warning}
	}
	for _, tc := range []struct {
		name string
		q    JobQuery
		job  string
		row  JobListRow
		want bool
	}{
		{"no filter keeps all", JobQuery{}, "backup", row(JobInvalid, "", ""), true},
		{"q is a part of the name", JobQuery{Q: "back"}, "old-backup", row(JobRunning, "", ""), true},
		{"q ignores case", JobQuery{Q: "REP"}, "Report", row(JobRunning, "", ""), true},
		{"q not in the name", JobQuery{Q: "zzz"}, "backup", row(JobRunning, "", ""), false},
		{"a job status kept", JobQuery{Status: JobPaused}, "backup", row(JobPaused, "skipped", ""), true},
		{"another job status", JobQuery{Status: JobRunning}, "backup", row(JobPaused, "", ""), false},
		{"a last result kept", JobQuery{Status: "failed"}, "backup", row(JobRunning, "failed", ""), true},
		{"a last result is not a status", JobQuery{Status: "failed"}, "backup", row(JobRunning, "complete", ""), false},
		{"no last result yet", JobQuery{Status: "failed"}, "backup", row(JobRunning, "", ""), false},
		{"no node can run it", JobQuery{Status: NoNode}, "backup", row(JobRunning, "", "no node is eligible now: none ready"), true},
		{"a node can run it", JobQuery{Status: NoNode}, "backup", row(JobRunning, "", ""), false},
	} {
		match := tc.q.matchesStatus(&tc.row)
		if tc.q.byResult() {
			var last *subjects.Run
			if tc.row.LastResult != "" {
				last = &subjects.Run{State: subjects.RunState(tc.row.LastResult)}
			}
			match = tc.q.matchesResult(last)
		}
		if got := tc.q.matchesName(tc.job) && match; got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestPageOfCountsEveryItem(t *testing.T) {
	items := []string{"a", "b", "c", "d", "e"}
	for _, tc := range []struct {
		name  string
		q     JobQuery
		want  string
		total int
	}{
		{"all on one page", JobQuery{Limit: 100}, "abcde", 5},
		{"a page in the middle", JobQuery{Offset: 1, Limit: 2}, "bc", 5},
		{"the last page is short", JobQuery{Offset: 4, Limit: 2}, "e", 5},
		{"past the end: empty, the total kept", JobQuery{Offset: 9, Limit: 2}, "", 5},
	} {
		page, total := pageOf(items, tc.q)
		if got := strings.Join(page, ""); got != tc.want || total != tc.total {
			t.Errorf("%s: %q of %d, want %q of %d", tc.name, got, total, tc.want, tc.total)
		}
	}
	if page, total := pageOf([]string(nil), JobQuery{Limit: 10}); len(page) != 0 || total != 0 {
		t.Errorf("no items: %v of %d", page, total)
	}
}

func TestJobQueryCheckFillsThePageSizeAndRefusesWhatIsOutOfRange(t *testing.T) {
	for _, tc := range []struct {
		q         JobQuery
		wantLimit int
		wantErr   string
	}{
		{JobQuery{}, DefaultPageSize, ""},
		{JobQuery{Status: "failed", Limit: 10}, 10, ""},
		{JobQuery{Status: NoNode}, DefaultPageSize, ""},
		{JobQuery{Status: "broken"}, 0, `status "broken": want one of`},
		{JobQuery{Status: "queued"}, 0, `status "queued"`},
		{JobQuery{Offset: -1}, 0, "offset -1"},
		{JobQuery{Limit: MaxPageSize + 1}, 0, fmt.Sprintf("limit %d", MaxPageSize+1)},
		{JobQuery{Limit: -5}, 0, "limit -5"},
	} {
		q := tc.q
		err := q.check()
		switch {
		case tc.wantErr == "" && (err != nil || q.Limit != tc.wantLimit):
			t.Errorf("%+v: %v, limit %d, want limit %d", tc.q, err, q.Limit, tc.wantLimit)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, ErrInvalid)):
			t.Errorf("%+v: %v, want an ErrInvalid saying %q", tc.q, err, tc.wantErr)
		}
	}
}

func TestJobListPagesWithLastResultsNextLaunchesAndWarnings(t *testing.T) {
	cl, b := newTestClient(t)
	ctx := testCtx(t)
	const hourly = "periodic: {cron: \"0 * * * *\"}\ntask: {driver: raw_exec, config: {command: /bin/true}}\n"
	for i := range 5 {
		name := fmt.Sprintf("job-%d", i)
		if _, err := b.Jobs.Put(ctx, name, []byte(hourly)); err != nil {
			t.Fatal(err)
		}
		state := subjects.StateComplete
		if i%2 == 0 {
			state = subjects.StateFailed
		}
		putRun(t, b, subjects.Run{ID: subjects.RunID(name, time.Unix(3600, 0)), Job: name, Scheduled: 3600, State: state})
	}
	now := time.Date(2030, 1, 1, 10, 30, 0, 0, time.UTC)

	page, err := cl.JobList(ctx, now, JobQuery{Offset: 1, Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if page.Total != 5 || len(page.Jobs) != 2 || page.Jobs[0].ID != "job-1" || page.Jobs[1].ID != "job-2" {
		t.Fatalf("page %+v: want job-1 and job-2 of 5", page)
	}
	for _, r := range page.Jobs {
		if r.LastResult == "" || r.LastRun != subjects.RunID(r.ID, time.Unix(3600, 0)) {
			t.Errorf("%s: no last result on the page: %+v", r.ID, r)
		}
		if want := time.Date(2030, 1, 1, 11, 0, 0, 0, time.UTC); !r.NextLaunch.Equal(want) {
			t.Errorf("%s: next launch %s, want %s", r.ID, r.NextLaunch, want)
		}
		if !strings.HasPrefix(r.Warning, "no node is eligible now: ") {
			t.Errorf("%s: no warning, though no node is registered: %+v", r.ID, r)
		}
	}

	failed, err := cl.JobList(ctx, now, JobQuery{Status: "failed"})
	if err != nil {
		t.Fatal(err)
	}
	if failed.Total != 3 || failed.Jobs[0].ID != "job-0" || failed.Jobs[2].ID != "job-4" {
		t.Fatalf("failed jobs: %+v, want job-0, job-2, job-4", failed)
	}
	if _, err := cl.JobList(ctx, now, JobQuery{Status: "nope"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("unknown status: %v, want ErrInvalid", err)
	}
}

// putRun stores a run record under its run ID's key.
func putRun(t *testing.T, b *subjects.Buckets, r subjects.Run) {
	t.Helper()
	key, err := subjects.RunKeyOf(r.ID)
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Runs.Put(testCtx(t), key, data); err != nil {
		t.Fatal(err)
	}
}
