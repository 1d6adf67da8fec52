package harness

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/jetcron/jetcron/e2e/cluster"
	"github.com/jetcron/jetcron/subjects"
)

// failJob is the observe scenario's job whose runs fail and are notified.
const failJob = "fail-2s"

// maxNotifyDelay bounds how long after a failed run finished its webhook may arrive
// (README: "within seconds"), generously: the machine is shared.
const maxNotifyDelay = 10 * time.Second

// redeliverBound bounds how long after the delivering server's death every failed
// run's webhook must have arrived: an event stays with a dead server for the
// notifications' ack wait, 30 s (README, "Notifications"), then another delivers it.
const redeliverBound = 60 * time.Second

// failJobYAML is failJob's job file: every 2 s a run that prints "failing" and exits
// 3, its failures POSTed to hook.
func failJobYAML(hook string) string {
	return fmt.Sprintf(`datacenters: [dc1]
type: batch
constraints:
  - attribute: "${attr.unique.hostname}"
    regexp: ".*mysql-backup"
periodic:
  cron: "@every 2s"
task:
  driver: raw_exec
  config:
    command: /bin/sh
    args: ["-c", "echo failing; exit 3"]
notify:
  - on: [failed]
    webhook: %s
`, hook)
}

// Observe proves on real processes what an operator sees (issue #13): a failed
// run's webhook, delivered at least once though the delivering server dies
// mid-delivery; one scrape of any server's /metrics; the /v1 views equal to -json;
// /v1/health telling a standby from a broken server. It runs on the seed deployment:
// three servers, three backup hosts and a web host, the failing job constrained to
// the backup hosts as the seed's mysql-backup is.
func Observe() Scenario {
	return Scenario{
		Name: "observe",
		What: fmt.Sprintf("the seed deployment (3 servers, 3 backup hosts, a web host); a webhook receiver in the harness; %s (constrained to the backup hosts) fails every 2s with notify on failed: its first webhook arrives within %s with every contract field right; "+
			"the server posting the next one is SIGKILLed mid-request (never answered), restarted 15s later: every failed run is notified (duplicates allowed) within %s of the kill; "+
			"one /metrics scrape of a surviving server and of the restarted one shows every job's outcomes and last success, exactly one server jetcron_ticker_leader 1; "+
			"/v1/run, /v1/run/.../logs, /v1/jobs, /v1/nodes, /v1/members answer as -json; /v1/health is 200 leading, 200 standing by, 200 on a runner host, "+
			"and 503 naming the meta leader within %s on a server whose two peers are SIGKILLed", failJob, maxNotifyDelay, redeliverBound, maxBrokenHealth),
		ServerYAML: "http: {open_read: true}\n",
		Hosts:      []string{"NODE-1-mysql-backup", "NODE-2-mysql-backup", "NODE-3-mysql-backup", "web-1"},
		Run: func(ctx context.Context, e *Env) error {
			rcv, err := startReceiver()
			if err != nil {
				return err
			}
			defer rcv.Close()
			o := &observer{e: e, rcv: rcv, http: &http.Client{Timeout: 15 * time.Second}}
			return o.run(ctx)
		},
	}
}

// observer is the observe scenario's state.
type observer struct {
	e    *Env
	rcv  *receiver
	http *http.Client
}

// run drives the scenario: the jobs, the first webhook, the views, the kill of the
// delivering server and its restart, the notifications, the scrapes, the health.
func (o *observer) run(ctx context.Context) error {
	e := o.e
	if err := putBackground(ctx, e); err != nil {
		return err
	}
	if err := e.PutRaw(ctx, failJob, failJobYAML(o.rcv.URL), false); err != nil {
		return err
	}
	first, err := o.rcv.wait(ctx, 30*time.Second, func(d *delivery) bool { return d.Answered && d.Payload.Job == failJob })
	if err != nil {
		return fmt.Errorf("first webhook of %s: %w", failJob, err)
	}
	o.firstWebhook(first)
	o.compareViews(ctx, first.Payload.RunID, first.Payload.URL)

	killed, victim, err := o.killDelivering(ctx)
	if err != nil {
		return err
	}
	// Failing runs keep coming, delivered by the two others, then it comes back.
	if err := e.Sleep(ctx, time.Until(killed.At.Add(15*time.Second))); err != nil {
		return err
	}
	if err := victim.Start(); err != nil {
		return err
	}
	restarted := time.Now()
	if err := e.C.WaitReady(ctx, 60*time.Second); err != nil {
		return err
	}
	if err := o.checkNoneLost(ctx, killed); err != nil {
		return err
	}
	o.checkScrape(ctx, o.busiest(victim), time.Time{}, 0)
	o.checkScrape(ctx, victim, restarted, 20*time.Second)
	o.checkTickerLeader(ctx)
	if err := e.DelJob(ctx, failJob); err != nil {
		return err
	}
	return o.checkHealth(ctx)
}

// busiest is the server, other than but, that posted the most webhooks answered.
func (o *observer) busiest(but *cluster.Proc) *cluster.Proc {
	n := map[string]int{}
	for _, d := range o.rcv.deliveries() {
		if d.Answered {
			n[d.Server()]++
		}
	}
	var best *cluster.Proc
	for _, s := range o.e.C.Servers() {
		if s != but && (best == nil || n[s.Name] > n[best.Name]) {
			best = s
		}
	}
	return best
}

// firstWebhook notes how long after its run finished the first webhook arrived, a
// violation beyond maxNotifyDelay.
func (o *observer) firstWebhook(d *delivery) {
	p := &d.Payload
	if p.Finished == nil {
		o.e.Violate("first webhook (%s from %s) has no finished time: its delay is unknown", p.RunID, d.Agent)
		return
	}
	delay := d.At.Sub(*p.Finished)
	o.e.Note("first webhook: %s from %s, %s after the run finished", p.RunID, d.Agent, delay.Round(time.Millisecond))
	if delay > maxNotifyDelay {
		o.e.Violate("first webhook (%s) arrived %s after its run finished (want <= %s)", p.RunID, delay.Round(time.Millisecond), maxNotifyDelay)
	}
}

// killDelivering arms the receiver to SIGKILL the server that posts the next webhook
// and never answer it, and returns that delivery and server once the server is dead.
func (o *observer) killDelivering(ctx context.Context) (*delivery, *cluster.Proc, error) {
	done := make(chan error, 1)
	got := o.rcv.killNext(func(d delivery) {
		p := o.e.C.Proc(d.Server())
		if p == nil || p.Role != cluster.RoleServer {
			done <- fmt.Errorf("webhook with User-Agent %q: no server to kill", d.Agent)
			return
		}
		done <- p.Kill()
	})
	select {
	case d := <-got:
		if err := <-done; err != nil {
			return nil, nil, fmt.Errorf("kill the delivering server: %w", err)
		}
		o.e.Note("%s SIGKILLed while posting the webhook of %s (never answered)", d.Server(), d.Payload.RunID)
		return &d, o.e.C.Proc(d.Server()), nil
	case <-time.After(30 * time.Second):
		return nil, nil, errors.New("no webhook within 30s to kill its sender")
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
}

// checkNoneLost waits until every run of failJob recorded failed has a webhook that
// was answered (or redeliverBound after the kill), and reports each that has none as
// lost; it notes the duplicates and when the killed delivery came again, and checks
// every payload.
func (o *observer) checkNoneLost(ctx context.Context, killed *delivery) error {
	runs, err := o.records(ctx)
	if err != nil {
		return err
	}
	state := map[string]subjects.RunState{}
	var failed []string
	for _, ob := range runs {
		if ob.Run.Job == failJob {
			state[ob.Run.ID] = ob.Run.State
			if ob.Run.State == subjects.StateFailed {
				failed = append(failed, ob.Run.ID)
			}
		}
	}
	deadline := killed.At.Add(redeliverBound)
	if d := time.Now().Add(20 * time.Second); d.After(deadline) {
		deadline = d
	}
	var missing []string
	var answered map[string]int
	for {
		answered = map[string]int{}
		for _, d := range o.rcv.deliveries() {
			if d.Answered && d.Payload.Outcome == "failed" {
				answered[d.Payload.RunID]++
			}
		}
		missing = missing[:0]
		for _, id := range failed {
			if answered[id] == 0 {
				missing = append(missing, id)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		if err := o.e.Sleep(ctx, 500*time.Millisecond); err != nil {
			return err
		}
	}
	sort.Strings(missing)
	for _, id := range missing {
		o.e.Violate("notification lost: %s failed, but no webhook for it was answered by %s (%s after %s was killed)",
			id, time.Now().Format("15:04:05"), time.Since(killed.At).Round(time.Second), killed.Server())
	}
	o.noteSlowest(failed)
	dups := 0
	for id, n := range answered {
		if n > 1 {
			dups += n - 1
		}
		if st := state[id]; st.Terminal() && st != subjects.StateFailed {
			o.e.Violate("webhook of %s, outcome failed, but its run ended %s", id, st)
		}
	}
	ds := o.rcv.deliveries()
	again := "never"
	for _, d := range ds {
		if d.Answered && d.Payload.RunID == killed.Payload.RunID && d.At.After(killed.At) {
			again = fmt.Sprintf("by %s %s after the kill", d.Server(), d.At.Sub(killed.At).Round(100*time.Millisecond))
			break
		}
	}
	o.e.Note("%d runs of %s recorded failed, %d notified; %d webhooks, %d duplicates (at least once); %s delivered again %s",
		len(failed), failJob, len(failed)-len(missing), len(ds), dups, killed.Payload.RunID, again)
	o.e.checkPayloads(ds, failJob)
	return nil
}

// noteSlowest notes the longest wait from a run of runs finishing to its first
// answered webhook: after the delivering server dies, the others may take a while
// to pull again.
func (o *observer) noteSlowest(runs []string) {
	first := map[string]time.Duration{}
	for _, d := range o.rcv.deliveries() {
		if _, seen := first[d.Payload.RunID]; d.Answered && !seen && d.Payload.Finished != nil {
			first[d.Payload.RunID] = d.At.Sub(*d.Payload.Finished)
		}
	}
	var slowest string
	for _, id := range runs {
		if _, ok := first[id]; ok && (slowest == "" || first[id] > first[slowest]) {
			slowest = id
		}
	}
	if slowest != "" {
		o.e.Note("slowest webhook: %s, %s after its run finished", slowest, first[slowest].Round(100*time.Millisecond))
	}
}

// records reads every run record, trying again for up to 30 s: just after a server
// died, a read may find the bucket's stream still electing a leader.
func (o *observer) records(ctx context.Context) (map[string]Observed, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		runs, err := o.e.watch.snapshot(ctx)
		if err == nil || time.Now().After(deadline) {
			return runs, err
		}
		o.e.Logf("run records not read, trying again: %v", err)
		if err := o.e.Sleep(ctx, time.Second); err != nil {
			return nil, err
		}
	}
}
