package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetcron/jetcron/api"
	"github.com/jetcron/jetcron/internal/buckettest"
	"github.com/jetcron/jetcron/metrics"
	"github.com/jetcron/jetcron/operator"
	"github.com/jetcron/jetcron/subjects"
)

const jobFile = "periodic: {cron: \"@every 1h\"}\ntask: {driver: raw_exec, config: {command: /bin/true}}\n"

// env is a one-server cluster with jetcron's buckets, an operator client on it, and
// the API served by an httptest server.
type env struct {
	js  jetstream.JetStream
	b   *subjects.Buckets
	op  *operator.Client
	ctx context.Context
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := buckettest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return &env{js: e.JS, b: e.Buckets, op: operator.New(e.NC, e.JS, e.Cluster.URLs()), ctx: ctx}
}

func (e *env) serve(t *testing.T, o api.Options) *httptest.Server {
	t.Helper()
	o.Client = e.op
	s := httptest.NewServer(api.Handler(o))
	t.Cleanup(s.Close)
	return s
}

func (e *env) put(t *testing.T, kv jetstream.KeyValue, key string, v any) {
	t.Helper()
	data, ok := v.([]byte)
	if !ok {
		var err error
		if data, err = json.Marshal(v); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := kv.Put(e.ctx, key, data); err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// jsonOf is v as the API writes it, to compare with a body.
func jsonOf(t *testing.T, v any) string {
	t.Helper()
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestViewsAnswerWhatTheOperatorLayerAnswers(t *testing.T) {
	e := newEnv(t)
	e.put(t, e.b.Jobs, "backup", []byte(jobFile))
	failed := subjects.Run{ID: "backup/periodic-3600", Job: "backup", Scheduled: 3600, State: subjects.StateFailed,
		Allocations: []subjects.Allocation{{ID: "a1", Node: "n1", State: subjects.StateFailed, Error: "command /bin/x does not exist"}}}
	e.put(t, e.b.Runs, subjects.RunKey("backup", time.Unix(3600, 0)), failed)
	e.put(t, e.b.Logs, subjects.RunKey("backup", time.Unix(3600, 0)), []byte("oops\n"))
	e.put(t, e.b.Nodes, "n1", subjects.Member{ID: "0123456789abcdef", Name: "n1", TTL: subjects.MillisOf(time.Minute), Heartbeat: time.Now()})
	e.put(t, e.b.Servers, "s1", subjects.Member{Name: "s1", TTL: subjects.MillisOf(time.Minute), Heartbeat: time.Now()})
	s := e.serve(t, api.Options{})

	jobs, err := e.op.Jobs(e.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	runs, err := e.op.Runs(e.ctx, "backup", operator.RecentRuns)
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := e.op.Nodes(e.ctx, time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := e.op.Plan(e.ctx, time.Now(), operator.PlanQuery{From: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), Window: 3 * time.Hour, Job: "backup", Limit: 2})
	if err != nil || len(plan.Ticks) != 2 || !plan.Truncated {
		t.Fatalf("plan %+v, %v: want 2 ticks of 3, truncated", plan, err)
	}
	for _, tc := range []struct {
		path string
		want string
	}{
		{"/v1/jobs", jsonOf(t, jobs)},
		{"/v1/job/backup/runs", jsonOf(t, runs)},
		{"/v1/run/backup/periodic-3600", jsonOf(t, failed)},
		{"/v1/run/backup/periodic-3600/logs", jsonOf(t, operator.RunOutput{RunID: "backup/periodic-3600", Output: "oops\n", Run: &failed})},
		{"/v1/nodes", jsonOf(t, nodes)},
		{"/v1/plan?from=2030-01-01T00:00:00Z&next=3h&job=backup&limit=2", jsonOf(t, plan)},
	} {
		if code, body := get(t, s.URL+tc.path); code != http.StatusOK || body != tc.want {
			t.Errorf("GET %s: %d\n%s\nwant\n%s", tc.path, code, body, tc.want)
		}
	}
	if jobs[0].LastResult != "failed" || jobs[0].LastReason != "command /bin/x does not exist" {
		t.Errorf("/v1/jobs does not say why the last run failed: %+v", jobs[0])
	}
	code, body := get(t, s.URL+"/v1/job/backup")
	var st operator.JobStatus
	if err := json.Unmarshal([]byte(body), &st); code != http.StatusOK || err != nil || st.Status != operator.JobRunning || len(st.Runs) != 1 {
		t.Errorf("GET /v1/job/backup: %d %v %s", code, err, body)
	}
	code, body = get(t, s.URL+"/v1/members")
	if code != http.StatusOK || !strings.Contains(body, `"name": "s1"`) || !strings.Contains(body, `"leader": false`) {
		t.Errorf("GET /v1/members: %d %s", code, body)
	}
}

func TestViewsSayNotFoundAndBadRequest(t *testing.T) {
	e := newEnv(t)
	s := e.serve(t, api.Options{})
	for path, want := range map[string]int{
		"/v1/job/nope":                  http.StatusNotFound,
		"/v1/job/nope/runs":             http.StatusNotFound,
		"/v1/run/nope/periodic-60":      http.StatusNotFound,
		"/v1/run/nope/periodic-60/logs": http.StatusNotFound,
		"/v1/run/not-a-run-id":          http.StatusBadRequest,
		"/v1/plan?next=soon":            http.StatusBadRequest,
		"/v1/plan?next=-1h":             http.StatusBadRequest,
		"/v1/plan?from=tomorrow":        http.StatusBadRequest,
		"/v1/plan?limit=many":           http.StatusBadRequest,
		"/v1/plan?job=nope":             http.StatusNotFound,
		"/v1/no-such-endpoint":          http.StatusNotFound,
	} {
		if code, body := get(t, s.URL+path); code != want || !strings.Contains(body, "error") && code != http.StatusNotFound {
			t.Errorf("GET %s: %d %s, want %d", path, code, body, want)
		}
	}
	resp, err := http.Post(s.URL+"/v1/jobs", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /v1/jobs: %d, want 405: nothing served over HTTP changes state", resp.StatusCode)
	}
}

func TestClosedViewsAnswer403ButHealthIsServed(t *testing.T) {
	e := newEnv(t)
	m, err := metrics.New(metrics.Options{JS: e.js, Client: e.op, Name: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	s := e.serve(t, api.Options{Closed: true, Metrics: m.Handler(), Health: func(context.Context) api.Health {
		return api.NewHealth("server", api.Check{Name: "ticker", OK: true, Detail: "leading"})
	}})
	for _, path := range []string{"/v1/jobs", "/v1/nodes", "/v1/members", "/v1/job/x", "/metrics", "/ui/", "/ui/job/x", "/ui/static/ui.css", "/"} {
		if code, body := get(t, s.URL+path); code != http.StatusForbidden || !strings.Contains(body, "http.open_read") {
			t.Errorf("GET %s with closed views: %d %s", path, code, body)
		}
	}
	if code, body := get(t, s.URL+"/v1/health"); code != http.StatusOK || !strings.Contains(body, `"status": "ok"`) {
		t.Errorf("GET /v1/health: %d %s", code, body)
	}
}

func TestRootRedirectsToTheUIServedBesideTheViews(t *testing.T) {
	e := newEnv(t)
	e.put(t, e.b.Jobs, "backup", []byte(jobFile))
	s := e.serve(t, api.Options{})
	resp, err := http.Get(s.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/ui/" || !strings.Contains(string(body), `<tr data-job="backup">`) {
		t.Fatalf("GET / ended at %s with %d:\n%s", resp.Request.URL, resp.StatusCode, body)
	}
}

func TestHealthIs503WithTheFailedChecksReason(t *testing.T) {
	e := newEnv(t)
	s := e.serve(t, api.Options{Health: func(context.Context) api.Health {
		return api.NewHealth("server",
			api.Check{Name: "jetstream", Detail: "no JetStream meta leader"},
			api.Check{Name: "ticker", OK: true, Detail: "standing by; s2 leads"})
	}})
	code, body := get(t, s.URL+"/v1/health")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "no JetStream meta leader") || !strings.Contains(body, `"status": "unavailable"`) {
		t.Fatalf("GET /v1/health: %d %s", code, body)
	}
}

func TestFollowStreamsTheRunAsServerSentEventsUntilItEnds(t *testing.T) {
	e := newEnv(t)
	key := subjects.RunKey("backup", time.Unix(3600, 0))
	run := subjects.Run{ID: "backup/periodic-3600", Job: "backup", Scheduled: 3600, State: subjects.StateRunning}
	e.put(t, e.b.Runs, key, run)
	s := e.serve(t, api.Options{})

	resp, err := http.Get(s.URL + "/v1/run/backup/periodic-3600/logs?follow=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("%d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	events := make(chan string, 10)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(resp.Body)
		var event string
		for sc.Scan() {
			line := sc.Text()
			if v, ok := strings.CutPrefix(line, "event: "); ok {
				event = v
			}
			if v, ok := strings.CutPrefix(line, "data: "); ok {
				events <- event + " " + v
			}
		}
	}()
	if ev := <-events; !strings.HasPrefix(ev, "output ") || !strings.Contains(ev, `"state":"running"`) {
		t.Fatalf("first event %q, want the running run", ev)
	}
	e.put(t, e.b.Logs, key, []byte("done\n"))
	run.State = subjects.StateComplete
	e.put(t, e.b.Runs, key, run)
	var rest []string
	for ev := range events {
		rest = append(rest, ev)
	}
	if len(rest) != 2 || !strings.Contains(rest[0], `"output":"done\n"`) || !strings.Contains(rest[0], `"state":"complete"`) ||
		!strings.HasPrefix(rest[1], "end ") {
		t.Fatalf("events after the end %q, want the complete run with its output, then end", rest)
	}
}

func TestASysbatchTickIsServedWithItsNodeRunsAndEachNodeRunAtItsOwnPath(t *testing.T) {
	e := newEnv(t)
	e.put(t, e.b.Jobs, "backup", []byte("type: sysbatch\n"+jobFile))
	at := time.Unix(3600, 0)
	tick := subjects.Run{ID: "backup/periodic-3600", Job: "backup", Scheduled: 3600, State: subjects.StateLaunched, Nodes: []string{"n1", "n2"}}
	e.put(t, e.b.Runs, subjects.RunKey("backup", at), tick)
	var nodeRuns []subjects.Run
	for _, n := range tick.Nodes {
		r := subjects.Run{ID: subjects.NodeRunID("backup", at, n), Job: "backup", Scheduled: 3600, Node: n, State: subjects.StateComplete,
			Allocations: []subjects.Allocation{{ID: "a-" + n, Node: n, State: subjects.StateComplete}}}
		e.put(t, e.b.Runs, subjects.NodeRunKey("backup", at, n), r)
		nodeRuns = append(nodeRuns, r)
	}
	e.put(t, e.b.Logs, subjects.NodeRunKey("backup", at, "n2"), []byte("n2 done\n"))
	s := e.serve(t, api.Options{})
	for _, tc := range []struct {
		path string
		want string
	}{
		{"/v1/run/backup/periodic-3600", jsonOf(t, operator.RunStatus{Run: tick, NodeRuns: nodeRuns})},
		{"/v1/run/backup/periodic-3600/n2", jsonOf(t, nodeRuns[1])},
		{"/v1/run/backup/periodic-3600/n2/logs", jsonOf(t, operator.RunOutput{RunID: "backup/periodic-3600/n2", Output: "n2 done\n", Run: &nodeRuns[1]})},
		{"/v1/job/backup/runs", jsonOf(t, nodeRuns)},
	} {
		if code, body := get(t, s.URL+tc.path); code != http.StatusOK || body != tc.want {
			t.Errorf("GET %s: %d\n%s\nwant\n%s", tc.path, code, body, tc.want)
		}
	}
	if code, _ := get(t, s.URL+"/v1/run/backup/periodic-3600/n3"); code != http.StatusNotFound {
		t.Errorf("GET a node run that does not exist: %d, want 404", code)
	}
}
