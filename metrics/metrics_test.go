package metrics_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetcron/jetcron/embed/embedtest"
	"github.com/jetcron/jetcron/metrics"
	"github.com/jetcron/jetcron/operator"
	"github.com/jetcron/jetcron/subjects"
)

// scrape returns the text of one scrape of h.
func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	return string(body)
}

func TestAnyServerScrapeShowsEveryJobsOutcomesAndLastSuccess(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: needs an embedded NATS cluster")
	}
	c := embedtest.NewCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pub, err := jetstream.New(c.ConnectTo(t, 0))
	if err != nil {
		t.Fatal(err)
	}
	if err := subjects.Provision(ctx, pub, subjects.DefaultLayout(3, 2*time.Second)); err != nil {
		t.Fatal(err)
	}
	tick := time.Unix(1_800_000_000, 0).UTC()
	success := tick.Add(90 * time.Second)
	events := []subjects.Event{
		{RunID: "backup/periodic-1800000000", Job: "backup", State: subjects.StateRunning, Time: tick.Add(2 * time.Second)},
		{RunID: "backup/periodic-1800000000", Job: "backup", State: subjects.StateFailed, Reason: "exit status 1", Duration: 3000, Time: tick.Add(5 * time.Second)},
		{RunID: "backup/periodic-1800003600", Job: "backup", State: subjects.StateLost, Time: tick.Add(time.Hour)},
		{RunID: "report/periodic-1800000000", Job: "report", State: subjects.StateComplete, Duration: 1500, Time: success},
		{RunID: "report/periodic-1800000060", Job: "report", State: subjects.StateSkipped, Reason: "no eligible node", Time: tick.Add(time.Minute)},
		// A sysbatch tick: its record's own launched event is no outcome; each node's
		// run counts as a run of the job, its start delay from the tick.
		{RunID: "sys/periodic-1800000000", Job: "sys", State: subjects.StateLaunched, Time: tick},
		{RunID: "sys/periodic-1800000000/n1", Job: "sys", State: subjects.StateRunning, Node: "n1", Time: tick.Add(time.Second)},
		{RunID: "sys/periodic-1800000000/n1", Job: "sys", State: subjects.StateComplete, Node: "n1", Duration: 1000, Time: tick.Add(2 * time.Second)},
		{RunID: "sys/periodic-1800000000/n2", Job: "sys", State: subjects.StateComplete, Node: "n2", Duration: 1000, Time: tick.Add(3 * time.Second)},
		// A run restarted after a failed execution counts once, with its outcome, and
		// starts once.
		{RunID: "flaky/periodic-1800000000", Job: "flaky", State: subjects.StateRunning, AllocID: "a1", Time: tick.Add(time.Second)},
		{RunID: "flaky/periodic-1800000000", Job: "flaky", State: subjects.StateRestarting, AllocID: "a1", Duration: 1000, Time: tick.Add(2 * time.Second)},
		{RunID: "flaky/periodic-1800000000", Job: "flaky", State: subjects.StateRunning, AllocID: "a2", Restart: 1, Time: tick.Add(17 * time.Second)},
		{RunID: "flaky/periodic-1800000000", Job: "flaky", State: subjects.StateComplete, AllocID: "a2", Restart: 1, Duration: 500, Time: tick.Add(18 * time.Second)},
	}
	for _, ev := range events {
		data, _ := json.Marshal(ev)
		if _, err := pub.Publish(ctx, subjects.EventSubject(ev.Job), data); err != nil {
			t.Fatal(err)
		}
	}
	// A node, and the lock held by server 2: the scrape of server 2 says it leads.
	b, err := subjects.Bind(ctx, pub)
	if err != nil {
		t.Fatal(err)
	}
	node, _ := json.Marshal(subjects.Member{Name: "n1", TTL: subjects.MillisOf(time.Minute), Heartbeat: time.Now()})
	lock, _ := json.Marshal(subjects.Lock{Holder: "s2", Since: time.Now()})
	if _, err := b.Nodes.Put(ctx, "n1", node); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Lock.Put(ctx, subjects.LockKey, lock); err != nil {
		t.Fatal(err)
	}

	// Server 2 saw none of the events published: it reads them from the stream.
	nc := c.ConnectTo(t, 2)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	m, err := metrics.New(metrics.Options{JS: js, Client: operator.New(nc, js, "s2"), Name: "s2"})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- m.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })

	want := []string{
		`jetcron_runs_total{job="backup",outcome="failed"} 1`,
		`jetcron_runs_total{job="backup",outcome="lost"} 1`,
		`jetcron_runs_total{job="report",outcome="complete"} 1`,
		`jetcron_runs_total{job="report",outcome="skipped"} 1`,
		`jetcron_job_last_success_timestamp_seconds{job="report"} 1.80000009e+09`,
		`jetcron_job_last_run_timestamp_seconds{job="backup",outcome="failed"} 1.800000005e+09`,
		`jetcron_runs_total{job="sys",outcome="complete"} 2`,
		`jetcron_runs_total{job="flaky",outcome="complete"} 1`,
		`jetcron_run_start_delay_seconds_count 3`,
		`jetcron_run_start_delay_seconds_sum 4`,
		`jetcron_run_duration_seconds_count 5`,
		`jetcron_run_duration_seconds_sum 7`,
		`jetcron_ticker_leader 1`,
		`jetcron_nodes{status="ready"} 1`,
		`jetcron_nodes{status="down"} 0`,
	}
	var text string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if text = scrape(t, m); containsAll(text, want) {
			break
		}
	}
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("scrape lacks %s", w)
		}
	}
	if strings.Contains(text, `outcome="launched"`) {
		t.Error("a sysbatch tick's launched record counts as an outcome")
	}
	if strings.Contains(text, `jetcron_job_last_success_timestamp_seconds{job="backup"}`) {
		t.Error("backup never succeeded, yet has a last success time")
	}
	if strings.Contains(text, `job="flaky",outcome="failed"`) || strings.Contains(text, `outcome="restarting"`) {
		t.Error("the failed execution of a run restarted to completion counted as a run")
	}
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
