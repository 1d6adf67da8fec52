package ui_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetcron/jetcron/internal/buckettest"
	"github.com/jetcron/jetcron/operator"
	"github.com/jetcron/jetcron/subjects"
	"github.com/jetcron/jetcron/ui"
)

const hourly = "periodic: {cron: \"0 * * * *\"}\ntask: {driver: raw_exec, config: {command: /bin/true}}\n"

// served starts a one-server cluster with jetcron's buckets and serves the UI on it.
func served(t *testing.T) (*subjects.Buckets, *httptest.Server) {
	t.Helper()
	e := buckettest.New(t)
	s := httptest.NewServer(ui.Handler(ui.Options{Client: operator.New(e.NC, e.JS, e.Cluster.URLs())}))
	t.Cleanup(s.Close)
	return e.Buckets, s
}

func put(t *testing.T, kv jetstream.KeyValue, key string, v any) {
	t.Helper()
	data, ok := v.([]byte)
	if !ok {
		var err error
		if data, err = json.Marshal(v); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := kv.Put(context.Background(), key, data); err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, url string) (*http.Response, string) {
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
	return resp, string(body)
}

func TestPagesShowTheOperatorsDataEscaped(t *testing.T) {
	b, s := served(t)
	put(t, b.Jobs, "backup", []byte(hourly))
	put(t, b.Jobs, "report", []byte(hourly+"paused: true\npause_note: \"<b>db</b> migration\"\n"))
	tick := time.Now().Add(-time.Hour).Truncate(time.Hour)
	started, finished, exit := tick.Add(1500*time.Millisecond), tick.Add(3*time.Second), 3
	failed := subjects.Run{ID: subjects.RunID("backup", tick), Job: "backup", Scheduled: tick.Unix(), State: subjects.StateFailed,
		Allocations: []subjects.Allocation{{ID: "a1b2c3d4", Node: "web-1", State: subjects.StateFailed, Created: tick,
			Started: &started, Finished: &finished, ExitCode: &exit, Error: "exit code 3"}}}
	key := subjects.RunKey("backup", tick)
	put(t, b.Runs, key, failed)
	put(t, b.Logs, key, []byte("boom <script>alert(1)</script>\n"))
	put(t, b.Nodes, "web-1", subjects.Member{ID: "0123456789abcdef", Name: "web-1", Datacenter: "dc1", TTL: subjects.MillisOf(time.Minute), Heartbeat: time.Now()})
	put(t, b.Servers, "s1", subjects.Member{Name: "s1", Address: "127.0.0.1", Port: 6222, TTL: subjects.MillisOf(time.Minute), Heartbeat: time.Now()})

	for _, tc := range []struct {
		path   string
		status int
		has    []string
		hasNot []string
	}{
		{"/ui/", 200, []string{`<tr data-job="backup">`, `<a class="badge bad" href="/ui/run/backup/periodic-` + strconv.FormatInt(tick.Unix(), 10) + `" title="exit code 3">failed</a>`,
			`<span class="badge warn">paused</span>`, `&lt;b&gt;db&lt;/b&gt; migration`, `1–2 of 2`}, []string{"<b>db</b>"}},
		{"/ui/?status=failed", 200, []string{`data-job="backup"`, `1–1 of 1`}, []string{`data-job="report"`}},
		{"/ui/?q=REP", 200, []string{`data-job="report"`}, []string{`data-job="backup"`}},
		{"/ui/?status=nope", 400, []string{`status &#34;nope&#34;: want one of`}, nil},
		{"/ui/?offset=x", 400, []string{`offset &#34;x&#34;: want a number`}, nil},
		{"/ui/job/backup", 200, []string{`<code>0 * * * *</code>`, `<rect class="bad"`, `started 1.5s after its tick`,
			`<pre class="cli">jetcron job periodic force backup</pre>`, `<pre class="cli">jetcron job pause backup -note &#39;why&#39;</pre>`}, nil},
		{"/ui/job/report", 200, []string{`Paused: &lt;b&gt;db&lt;/b&gt; migration`, `jetcron job resume report`}, nil},
		{"/ui/job/nope", 404, []string{`job &#34;nope&#34; not found`}, nil},
		{"/ui/run/" + failed.ID, 200, []string{`<dd id="exit-code">3</dd>`, `<dd id="error" class="bad">exit code 3</dd>`, `<dd id="node">web-1</dd>`,
			`boom &lt;script&gt;alert(1)&lt;/script&gt;`, `jetcron run logs backup/periodic-`}, []string{"<script>alert", "data-follow", "follow.js"}},
		{"/ui/run/nope/periodic-60", 404, nil, nil},
		{"/ui/run/not-a-run", 400, nil, nil},
		{"/ui/nodes", 200, []string{`<tr data-node="web-1">`, `<code class="cli">jetcron node drain -enable web-1</code>`, `0123456`}, nil},
		{"/ui/members", 200, []string{`<tr data-member="s1">`, `127.0.0.1:6222`}, nil},
		{"/ui/plan", 200, []string{`<a href="/ui/job/backup">backup</a>`, `paused: &lt;b&gt;db&lt;/b&gt; migration`}, nil},
		{"/ui/plan?next=soon", 400, nil, nil},
		{"/ui/no-such-page", 404, []string{"no such page"}, nil},
	} {
		resp, body := get(t, s.URL+tc.path)
		if resp.StatusCode != tc.status {
			t.Errorf("GET %s: %d, want %d\n%s", tc.path, resp.StatusCode, tc.status, body)
			continue
		}
		if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Errorf("GET %s: Content-Type %q", tc.path, ct)
		}
		if st := resp.Header.Get("Server-Timing"); !strings.HasPrefix(st, "read;dur=") || !strings.Contains(st, ", render;dur=") {
			t.Errorf("GET %s: Server-Timing %q", tc.path, st)
		}
		for _, h := range tc.has {
			if !strings.Contains(body, h) {
				t.Errorf("GET %s lacks %s", tc.path, h)
			}
		}
		for _, h := range tc.hasNot {
			if strings.Contains(body, h) {
				t.Errorf("GET %s has %s", tc.path, h)
			}
		}
	}
	for path, want := range map[string]string{"/ui/static/ui.css": "text/css; charset=utf-8", "/ui/static/follow.js": "text/javascript; charset=utf-8"} {
		if resp, body := get(t, s.URL+path); resp.StatusCode != 200 || resp.Header.Get("Content-Type") != want || body == "" {
			t.Errorf("GET %s: %d %q", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
}

func TestARunThatHasNotEndedIsFollowed(t *testing.T) {
	b, s := served(t)
	put(t, b.Jobs, "backup", []byte(hourly))
	run := subjects.Run{ID: "backup/periodic-3600", Job: "backup", Scheduled: 3600, State: subjects.StateRunning,
		Allocations: []subjects.Allocation{{ID: "a1", Node: "web-1", State: subjects.StateRunning}}}
	put(t, b.Runs, subjects.RunKey("backup", time.Unix(3600, 0)), run)
	_, body := get(t, s.URL+"/ui/run/backup/periodic-3600")
	for _, h := range []string{`data-follow="/v1/run/backup/periodic-3600/logs?follow=1"`, `<script src="/ui/static/follow.js">`,
		`&#34;failed&#34;:&#34;bad&#34;`, `jetcron run logs -f backup/periodic-3600`, `<span id="state" class="badge live">running</span>`} {
		if !strings.Contains(body, h) {
			t.Errorf("the page of a running run lacks %s:\n%s", h, body)
		}
	}
}
