package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jetcron/jetcron/e2e/cluster"
	"github.com/jetcron/jetcron/notify"
)

// contractFields are the fields of a webhook's JSON body that the README's contract
// ("Notifications") names; a failed run's notification carries every one.
var contractFields = []string{"job", "run_id", "outcome", "reason", "node", "exit_code", "scheduled", "started", "finished", "log_tail", "url", "text"}

// delivery is one POST the receiver got.
type delivery struct {
	At    time.Time // when its request arrived
	Agent string    // its User-Agent: jetcron/<the delivering server's name>
	// Fields are the top-level keys of its JSON body, Payload the body decoded,
	// Err why the body is not a JSON object.
	Fields  map[string]bool
	Payload notify.Payload
	Err     error
	// Answered is false for the request the receiver never answered (killNext).
	Answered bool
}

// Server is the name of the server that sent d, from its User-Agent.
func (d *delivery) Server() string { return strings.TrimPrefix(d.Agent, "jetcron/") }

// receiver is a webhook run by the harness on 127.0.0.1: it records every POST and
// answers 200, except the one after killNext, which it never answers.
type receiver struct {
	// URL is the webhook's address, http://127.0.0.1:PORT/hook.
	URL string
	srv *http.Server

	mu     sync.Mutex
	got    []delivery
	kill   func(d delivery)
	killed chan delivery
}

// startReceiver listens on a free port of 127.0.0.1 and serves until Close.
func startReceiver() (*receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("webhook receiver: %w", err)
	}
	r := &receiver{URL: "http://" + ln.Addr().String() + "/hook"}
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = r.srv.Serve(ln) }() // ends with Close
	return r, nil
}

// ServeHTTP records a POST. After killNext it calls the kill function with it and
// does not answer: the sender cannot have taken it as delivered.
func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	d := delivery{At: time.Now(), Agent: req.UserAgent()}
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err == nil {
		err = decodePayload(body, &d)
	}
	d.Err = err
	r.mu.Lock()
	kill, killed := r.kill, r.killed
	r.kill = nil
	d.Answered = kill == nil
	r.got = append(r.got, d)
	r.mu.Unlock()
	if kill != nil {
		killed <- d
		kill(d)
		<-req.Context().Done() // the sender died (or Close)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// decodePayload fills d's Fields and Payload from a webhook's body.
func decodePayload(body []byte, d *delivery) error {
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(body, &keys); err != nil {
		return fmt.Errorf("body is not a JSON object: %w", err)
	}
	d.Fields = map[string]bool{}
	for k := range keys {
		d.Fields[k] = true
	}
	if err := json.Unmarshal(body, &d.Payload); err != nil {
		return fmt.Errorf("body does not decode as the contract says: %w", err)
	}
	return nil
}

// killNext arms the receiver: the next POST is recorded unanswered, sent on the
// returned channel, then given to kill.
func (r *receiver) killNext(kill func(d delivery)) <-chan delivery {
	ch := make(chan delivery, 1)
	r.mu.Lock()
	r.kill, r.killed = kill, ch
	r.mu.Unlock()
	return ch
}

// deliveries returns every POST so far, in order of arrival.
func (r *receiver) deliveries() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// wait polls until a delivery matches, or timeout.
func (r *receiver) wait(ctx context.Context, timeout time.Duration, match func(*delivery) bool) (*delivery, error) {
	deadline := time.Now().Add(timeout)
	for {
		ds := r.deliveries()
		for i := range ds {
			if match(&ds[i]) {
				return &ds[i], nil
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no matching webhook after %s (%d received)", timeout, len(ds))
		}
		if err := cluster.Sleep(ctx, 100*time.Millisecond); err != nil {
			return nil, err
		}
	}
}

// Close stops the receiver, ending the requests it holds.
func (r *receiver) Close() { _ = r.srv.Close() }

// payloadProblems says what is wrong with the webhook d of a run of job that failed
// with exit code 3 after printing "failing": its sender is not a server, a contract
// field is missing, or a field does not say what the run did. c gives the servers'
// and hosts' names and the servers' HTTP addresses.
func payloadProblems(d *delivery, job string, c *cluster.Cluster) []string {
	if d.Err != nil {
		return []string{d.Err.Error()}
	}
	var out []string
	if c.Proc(d.Server()) == nil || c.Proc(d.Server()).Role != cluster.RoleServer {
		out = append(out, fmt.Sprintf("User-Agent %q is not jetcron/<a server>", d.Agent))
	}
	for _, f := range contractFields {
		if !d.Fields[f] {
			out = append(out, fmt.Sprintf("field %q missing", f))
		}
	}
	p := &d.Payload
	if p.Job != job || p.Outcome != "failed" {
		out = append(out, fmt.Sprintf("job %q outcome %q, want %q failed", p.Job, p.Outcome, job))
	}
	if p.ExitCode == nil || *p.ExitCode != 3 {
		out = append(out, "exit_code is not 3")
	}
	if !strings.Contains(p.LogTail, "failing") {
		out = append(out, fmt.Sprintf("log_tail %q lacks the run's output \"failing\"", truncate(p.LogTail, 40)))
	}
	if p.Reason == "" {
		out = append(out, "reason is empty")
	}
	if h := c.Proc(p.Node); h == nil || h.Role != cluster.RoleHost || !strings.HasSuffix(p.Node, "mysql-backup") {
		out = append(out, fmt.Sprintf("node %q is not one of the backup hosts the job is constrained to", p.Node))
	}
	if p.Scheduled == nil || p.RunID != fmt.Sprintf("%s/periodic-%d", job, p.Scheduled.Unix()) {
		out = append(out, fmt.Sprintf("run_id %q does not name the job and its scheduled tick", p.RunID))
	}
	if p.Scheduled == nil || p.Started == nil || p.Finished == nil || p.Started.Before(*p.Scheduled) || p.Finished.Before(*p.Started) {
		out = append(out, "scheduled, started, finished are not in order")
	}
	if !slices.ContainsFunc(c.Servers(), func(s *cluster.Proc) bool { return p.URL == s.HTTP+"/v1/run/"+p.RunID }) {
		out = append(out, fmt.Sprintf("url %q is not a server's /v1/run/<run_id>", p.URL))
	}
	if !strings.Contains(p.Text, p.RunID) || !strings.Contains(p.Text, "failed") {
		out = append(out, fmt.Sprintf("text %q does not name the run and its outcome", p.Text))
	}
	return out
}

// checkPayloads reports each problem of payloadProblems once, with how many of ds
// have it.
func (e *Env) checkPayloads(ds []delivery, job string) {
	count, example := map[string]int{}, map[string]string{}
	for i := range ds {
		for _, p := range payloadProblems(&ds[i], job, e.C) {
			if count[p]++; count[p] == 1 {
				example[p] = ds[i].Payload.RunID
			}
		}
	}
	var ps []string
	for p := range count {
		ps = append(ps, p)
	}
	sort.Strings(ps)
	for _, p := range ps {
		e.Violate("webhook payload: %s (%d of %d webhooks, e.g. %s)", p, count[p], len(ds), example[p])
	}
}
