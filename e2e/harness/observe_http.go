package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/jetcron/jetcron/api"
	"github.com/jetcron/jetcron/e2e/cluster"
	"github.com/jetcron/jetcron/subjects"
)

// get GETs url and returns its status and body.
func (o *observer) get(ctx context.Context, url string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, fmt.Errorf("GET %s: %w", url, err)
	}
	resp, err := o.http.Do(req)
	if err != nil {
		return 0, nil, err // names the method and the URL
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, fmt.Errorf("GET %s: %w", url, err)
	}
	return resp.StatusCode, body, nil
}

// getJSON GETs url, which must answer 200, and decodes its JSON body.
func (o *observer) getJSON(ctx context.Context, url string) (any, error) {
	status, body, err := o.get(ctx, url)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("GET %s: status %d: %s", url, status, truncate(string(body), 200))
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	return v, nil
}

// cliJSON runs `jetcron ARGS -json` as the reader and decodes what it prints.
func (o *observer) cliJSON(ctx context.Context, args ...string) (any, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	out, err := o.e.C.JetcronAs(ctx, cluster.Reader, append(args, "-json")...)
	if err != nil {
		return nil, err
	}
	var v any
	if err := json.Unmarshal(out, &v); err != nil {
		return nil, fmt.Errorf("jetcron %s -json: %w", strings.Join(args, " "), err)
	}
	return v, nil
}

// compareViews checks that the /v1 views answer what -json prints: the run runID
// (at runURL, the link its webhook gave) and its output in full, and the names in
// the lists of jobs, nodes and servers, each view asked of another server.
func (o *observer) compareViews(ctx context.Context, runID, runURL string) {
	s := o.e.C.Servers()
	views := []struct {
		url  string
		args []string
		key  string // compare the lists' values of key; "": the whole answer
	}{
		{runURL, []string{"job", "status", runID}, ""},
		{s[1%len(s)].HTTP + "/v1/run/" + runID + "/logs", []string{"run", "logs", runID}, ""},
		{s[2%len(s)].HTTP + "/v1/jobs", []string{"job", "status"}, "id"},
		{s[0].HTTP + "/v1/nodes", []string{"node", "status"}, "name"},
		{s[1%len(s)].HTTP + "/v1/members", []string{"server", "members"}, "name"},
	}
	var same []string
	for _, v := range views {
		what := fmt.Sprintf("GET %s vs jetcron %s -json", v.url, strings.Join(v.args, " "))
		web, err := o.getJSON(ctx, v.url)
		if err != nil {
			o.e.Violate("%s: %v", what, err)
			continue
		}
		cli, err := o.cliJSON(ctx, v.args...)
		if err != nil {
			o.e.Violate("%s: %v", what, err)
			continue
		}
		if v.key != "" {
			web, cli = names(web, v.key), names(cli, v.key)
		}
		if !reflect.DeepEqual(web, cli) {
			o.e.Violate("%s: they differ: %s vs %s", what, truncate(fmt.Sprint(web), 300), truncate(fmt.Sprint(cli), 300))
			continue
		}
		same = append(same, strings.Join(v.args, " "))
	}
	o.e.Note("/v1 answers as -json for: %s", strings.Join(same, "; "))
}

// names are the sorted values of key in a JSON list of objects (nil for anything else).
func names(v any, key string) []string {
	list, _ := v.([]any)
	var out []string
	for _, x := range list {
		if m, ok := x.(map[string]any); ok {
			out = append(out, fmt.Sprint(m[key]))
		}
	}
	sort.Strings(out)
	return out
}

// scrape GETs p's /metrics and parses Prometheus's text format.
func (o *observer) scrape(ctx context.Context, p *cluster.Proc) (map[string]*dto.MetricFamily, error) {
	url := p.HTTP + "/metrics"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	req.Header.Set("Accept", "text/plain")
	resp, err := o.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	return mfs, nil
}

// sample sums the counter or gauge samples of family name whose labels include
// want; false when there is none.
func sample(mfs map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	mf := mfs[name]
	if mf == nil {
		return 0, false
	}
	var sum float64
	found := false
	for _, m := range mf.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		match := true
		for k, v := range want {
			match = match && labels[k] == v
		}
		if !match {
			continue
		}
		found = true
		sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
	}
	return sum, found
}

// metricsProblems says what a scrape lacks against the run records read just before
// it: a jetcron_runs_total series of at least 1 for every job and outcome recorded
// (failJob's failed among them), each background job's last success no older than
// its newest complete run (5 s of slack), every runner host ready.
func (o *observer) metricsProblems(mfs map[string]*dto.MetricFamily, runs map[string]Observed) []string {
	ended := map[string]bool{failJob + "\x00" + string(subjects.StateFailed): true}
	success := map[string]time.Time{}
	for _, ob := range runs {
		r := ob.Run
		if !r.State.Terminal() {
			continue
		}
		ended[r.Job+"\x00"+string(r.State)] = true
		if a := r.Current(); r.State == subjects.StateComplete && a != nil && a.Finished != nil && a.Finished.After(success[r.Job]) {
			success[r.Job] = *a.Finished
		}
	}
	var out []string
	for k := range ended {
		job, outcome, _ := strings.Cut(k, "\x00")
		if v, ok := sample(mfs, "jetcron_runs_total", map[string]string{"job": job, "outcome": outcome}); !ok || v < 1 {
			out = append(out, fmt.Sprintf("jetcron_runs_total{job=%q,outcome=%q} is %v (present %v), but such runs are recorded", job, outcome, v, ok))
		}
	}
	for _, job := range backgroundKeys {
		v, ok := sample(mfs, "jetcron_job_last_success_timestamp_seconds", map[string]string{"job": job})
		last := time.Unix(0, int64(v*1e9))
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("no jetcron_job_last_success_timestamp_seconds{job=%q}", job))
		case last.Before(success[job].Add(-5*time.Second)) || last.After(time.Now().Add(5*time.Second)):
			out = append(out, fmt.Sprintf("jetcron_job_last_success_timestamp_seconds{job=%q} is %s, but its newest complete run ended %s",
				job, last.Format("15:04:05.000"), success[job].Format("15:04:05.000")))
		}
	}
	if v, _ := sample(mfs, "jetcron_nodes", map[string]string{"status": subjects.StatusReady}); int(v) != len(o.e.C.Hosts()) {
		out = append(out, fmt.Sprintf("jetcron_nodes{status=\"ready\"} is %v, want %d", v, len(o.e.C.Hosts())))
	}
	sort.Strings(out)
	return out
}

// scrapeProblems reads the run records, then scrapes p once: metricsProblems, and
// whether its jetcron_notifications_total{outcome="delivered"} counts fewer than the
// webhooks from p answered since it started (since) until 2 s before the scrape.
// It returns how many those were.
func (o *observer) scrapeProblems(ctx context.Context, p *cluster.Proc, since time.Time) ([]string, int, error) {
	runs, err := o.records(ctx)
	if err != nil {
		return nil, 0, err
	}
	t := time.Now()
	mfs, err := o.scrape(ctx, p)
	if err != nil {
		return nil, 0, err
	}
	probs := o.metricsProblems(mfs, runs)
	answered := 0
	for _, d := range o.rcv.deliveries() {
		if d.Answered && d.Server() == p.Name && d.At.After(since) && d.At.Before(t.Add(-2*time.Second)) {
			answered++
		}
	}
	if v, _ := sample(mfs, "jetcron_notifications_total", map[string]string{"outcome": "delivered"}); int(v) < answered {
		probs = append(probs, fmt.Sprintf("jetcron_notifications_total{outcome=\"delivered\"} is %v, but %d of its webhooks were answered", v, answered))
	}
	return probs, answered, nil
}

// checkScrape scrapes p, started at since (zero: with the cluster): once, or, with
// retry, until scrapeProblems finds nothing or retry has passed (a server just
// started follows the run events from the oldest kept).
func (o *observer) checkScrape(ctx context.Context, p *cluster.Proc, since time.Time, retry time.Duration) {
	what := "one scrape of " + p.Name
	if !since.IsZero() {
		what = fmt.Sprintf("scrape of %s, restarted %s before (tried for up to %s)", p.Name, time.Since(since).Round(time.Second), retry)
	}
	deadline := time.Now().Add(retry)
	for {
		probs, answered, err := o.scrapeProblems(ctx, p, since)
		if err == nil && len(probs) == 0 {
			o.e.Note("%s: every job's outcomes and last success, %d nodes ready, %d webhooks delivered by it", what, len(o.e.C.Hosts()), answered)
			return
		}
		if !time.Now().Before(deadline) || ctx.Err() != nil {
			if err != nil {
				probs = append(probs, err.Error())
			}
			for _, pr := range probs {
				o.e.Violate("%s: %s", what, pr)
			}
			return
		}
		_ = o.e.Sleep(ctx, time.Second)
	}
}

// checkTickerLeader scrapes every server: exactly one has jetcron_ticker_leader 1. The
// three scrapes are not one instant, so a leadership that moved is scraped again
// (three times in all).
func (o *observer) checkTickerLeader(ctx context.Context) {
	var got []string
	for try := 0; try < 3; try++ {
		var leaders []string
		got = nil
		for _, s := range o.e.C.Servers() {
			mfs, err := o.scrape(ctx, s)
			if err != nil {
				got = append(got, err.Error())
				continue
			}
			v, ok := sample(mfs, "jetcron_ticker_leader", nil)
			if !ok {
				got = append(got, s.Name+": no jetcron_ticker_leader")
				continue
			}
			got = append(got, fmt.Sprintf("%s: %v", s.Name, v))
			if v == 1 {
				leaders = append(leaders, s.Name)
			}
		}
		if len(leaders) == 1 {
			o.e.Note("jetcron_ticker_leader: %s", strings.Join(got, ", "))
			return
		}
		_ = o.e.Sleep(ctx, time.Second)
	}
	o.e.Violate("jetcron_ticker_leader is not 1 on exactly one server, three times: %s", strings.Join(got, ", "))
}

// maxBrokenHealth bounds how long after its two peers die a server's /v1/health may
// take to answer 503 naming the meta leader: a meta leader steps down some 10 s after
// it lost its quorum (meanwhile the ticker check, whose lock read gives up after 2 s,
// answers 503 already), and each answer takes at most a few seconds.
const maxBrokenHealth = 25 * time.Second

// health GETs p's /v1/health.
func (o *observer) health(ctx context.Context, p *cluster.Proc) (int, api.Health, error) {
	var h api.Health
	status, body, err := o.get(ctx, p.HTTP+"/v1/health")
	if err != nil {
		return 0, h, err
	}
	if err := json.Unmarshal(body, &h); err != nil {
		return status, h, fmt.Errorf("GET %s/v1/health: %w: %s", p.HTTP, err, truncate(string(body), 200))
	}
	return status, h, nil
}

// check returns h's check named name (zero when absent).
func check(h api.Health, name string) api.Check {
	i := slices.IndexFunc(h.Checks, func(c api.Check) bool { return c.Name == name })
	if i < 0 {
		return api.Check{}
	}
	return h.Checks[i]
}

// checkHealth checks /v1/health: 200 and leading on the ticker leader, 200 and
// standing by on another server, 200 on a runner host; then, with the two other
// servers SIGKILLed, 503 on the standby naming JetStream's meta leader within
// maxBrokenHealth.
// It starts them again and waits for launching to resume.
func (o *observer) checkHealth(ctx context.Context) error {
	e := o.e
	leader, err := e.Leader(ctx)
	if err != nil {
		return err
	}
	var standby *cluster.Proc
	for _, s := range e.C.Servers() {
		if s != leader && standby == nil {
			standby = s
		}
	}
	for _, c := range []struct {
		p           *cluster.Proc
		check, want string
	}{{leader, "ticker", "leading"}, {standby, "ticker", "standing by"}, {e.C.Hosts()[0], "registered", "node "}} {
		status, h, err := o.health(ctx, c.p)
		if err != nil || status != http.StatusOK || h.Status != api.HealthOK || !strings.HasPrefix(check(h, c.check).Detail, c.want) {
			e.Violate("/v1/health of %s %s: %d %+v (err %v), want 200 with %s %q...", c.p.Role, c.p.Name, status, h, err, c.check, c.want)
			continue
		}
		e.Note("/v1/health of %s %s: 200, %s: %s", c.p.Role, c.p.Name, c.check, check(h, c.check).Detail)
	}
	var peers []*cluster.Proc
	for _, s := range e.C.Servers() {
		if s != standby {
			peers = append(peers, s)
			if err := s.Kill(); err != nil {
				return err
			}
		}
	}
	t := time.Now()
	var last string
	var first time.Duration // until the first 503, whatever its reason
	for {
		status, h, err := o.health(ctx, standby)
		if first == 0 && status == http.StatusServiceUnavailable {
			first = time.Since(t)
			e.Note("/v1/health of %s, its two peers SIGKILLed: first 503 %s later: %+v", standby.Name, first.Round(100*time.Millisecond), h.Checks)
		}
		js := check(h, "jetstream")
		if err == nil && status == http.StatusServiceUnavailable && h.Status == api.HealthUnavailable && !js.OK && strings.Contains(js.Detail, "meta leader") {
			e.Note("/v1/health of %s, its two peers SIGKILLed: 503 %s later, jetstream: %s", standby.Name, time.Since(t).Round(100*time.Millisecond), js.Detail)
			break
		}
		last = fmt.Sprintf("%d %+v (err %v)", status, h, err)
		if time.Since(t) > maxBrokenHealth {
			e.Violate("/v1/health of %s, its two peers SIGKILLed %s before: %s, want 503 with the jetstream check naming the meta leader",
				standby.Name, maxBrokenHealth, last)
			break
		}
		if err := e.Sleep(ctx, 500*time.Millisecond); err != nil {
			return err
		}
	}
	for _, s := range peers {
		if err := s.Start(); err != nil {
			return err
		}
	}
	if err := e.C.WaitReady(ctx, 60*time.Second); err != nil {
		return err
	}
	// The ticks missed meanwhile are caught up when launching resumes: let it.
	ready := time.Now()
	if _, err := e.WaitExec(ctx, 30*time.Second, func(x *Exec) bool { return x.Job == "tick-1s" && x.Start.After(ready) }); err != nil {
		return fmt.Errorf("launching after the servers came back: %w", err)
	}
	return e.Sleep(ctx, 2*time.Second)
}
