package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jetcron/jetcron/api"
	"github.com/jetcron/jetcron/operator"
	"github.com/jetcron/jetcron/subjects"
)

func TestViewsOfAPausedJobCarryThePauseAsTheOperatorLayerDoes(t *testing.T) {
	e := newEnv(t)
	e.put(t, e.b.Jobs, "backup", []byte(jobFile+"paused: true\npause_note: db migration\n"))
	e.put(t, e.b.Runs, subjects.RunKey("backup", time.Unix(3600, 0)),
		subjects.Run{ID: "backup/periodic-3600", Job: "backup", Scheduled: 3600, State: subjects.StateSkipped, Reason: "paused: db migration"})
	s := e.serve(t, api.Options{})

	jobs, err := e.op.Jobs(e.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, _, err := e.op.Job(e.ctx, "backup", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	plan, err := e.op.Plan(e.ctx, time.Now(), operator.PlanQuery{From: from, Window: 2 * time.Hour, Job: "backup"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path, want string
		has        []string
	}{
		{"/v1/jobs", jsonOf(t, jobs), []string{`"status": "paused",`, `"paused": true,`, `"pause_note": "db migration",`, `"last_reason": "paused: db migration"`}},
		{"/v1/job/backup", jsonOf(t, st), []string{`"status": "paused",`, `"paused": true,`, `"pause_note": "db migration",`, `"reason": "paused: db migration"`}},
		{"/v1/plan?from=2030-01-01T00:00:00Z&next=2h&job=backup", jsonOf(t, plan), []string{`"blocked": "paused: db migration"`}},
	} {
		code, body := get(t, s.URL+tc.path)
		if code != http.StatusOK || body != tc.want {
			t.Errorf("GET %s: %d\n%s\nwant\n%s", tc.path, code, body, tc.want)
		}
		for _, h := range tc.has {
			if !strings.Contains(body, h) {
				t.Errorf("GET %s lacks %s:\n%s", tc.path, h, body)
			}
		}
	}
}
