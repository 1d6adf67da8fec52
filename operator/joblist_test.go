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

func TestSelectJobsFiltersThenPages(t *testing.T) {
	row := func(id, status, last, warning string) JobListRow {
		return JobListRow{JobRow: JobRow{ID: id, Status: status, LastResult: last}, Warning: warning}
	}
	rows := []JobListRow{
		row("backup-db", JobRunning, "failed", ""),
		row("backup-web", JobPaused, "skipped", ""),
		row("Report", JobRunning, "complete", "no node is eligible now: none ready"),
		row("rotate", JobInvalid, "", ""),
		row("old-backup", JobDead, "failed", ""),
	}
	ids := func(rs []JobListRow) string {
		var out []string
		for _, r := range rs {
			out = append(out, r.ID)
		}
		return strings.Join(out, ",")
	}
	for _, tc := range []struct {
		name  string
		q     JobQuery
		want  string
		total int
	}{
		{"no filter keeps all, in order", JobQuery{Limit: 100}, "backup-db,backup-web,Report,rotate,old-backup", 5},
		{"q is a substring of the name", JobQuery{Q: "backup", Limit: 100}, "backup-db,backup-web,old-backup", 3},
		{"q ignores case", JobQuery{Q: "REP", Limit: 100}, "Report", 1},
		{"a job status", JobQuery{Status: JobRunning, Limit: 100}, "backup-db,Report", 2},
		{"a last result", JobQuery{Status: "failed", Limit: 100}, "backup-db,old-backup", 2},
		{"no node can run it", JobQuery{Status: NoNode, Limit: 100}, "Report", 1},
		{"q and status together", JobQuery{Q: "old", Status: "failed", Limit: 100}, "old-backup", 1},
		{"a page counts what matched before it", JobQuery{Offset: 1, Limit: 2}, "backup-web,Report", 5},
		{"the last page is short", JobQuery{Offset: 4, Limit: 2}, "old-backup", 5},
		{"past the end: empty, total kept", JobQuery{Offset: 9, Limit: 2}, "", 5},
		{"nothing matches", JobQuery{Q: "zzz", Limit: 100}, "", 0},
	} {
		page, total := selectJobs(rows, tc.q)
		if got := ids(page); got != tc.want || total != tc.total {
			t.Errorf("%s: %q of %d, want %q of %d", tc.name, got, total, tc.want, tc.total)
		}
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
