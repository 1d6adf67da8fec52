// Package notify delivers the webhooks of a job's `notify:` entries (DESIGN.md,
// "Notifications"). Every server runs a Notifier on one durable consumer of the runs
// stream's events (subjects.NotifyDurable), shared by the whole cluster: JetStream
// hands each event to one server at a time, and an event is acked only once every
// webhook that asked for it answered 2xx. A failed POST is retried with backoff (a
// negative ack with a delay); an event whose server died mid-delivery is redelivered
// to another after the consumer's ack wait. Delivery is therefore at least once: a
// webhook may get a notification twice, and never loses one while a quorum of
// servers is up.
package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/jetcron/jetcron/job"
	"github.com/jetcron/jetcron/operator"
	"github.com/jetcron/jetcron/subjects"
)

// Defaults of Options.
const (
	DefaultAckWait     = 30 * time.Second
	DefaultHTTPTimeout = 10 * time.Second
	// logTailBytes bounds the output sent as log_tail.
	logTailBytes = 2048
	// historyRuns is how many of a job's newest runs are read to tell a recovery.
	historyRuns = 20
)

// pullExpiry bounds one pull of the consumer: a pull its leader never answers (one
// made before the consumer's leader was elected, or to a leader that died since)
// shows as missing heartbeats after twice its half, and is made again, instead of
// waiting out nats.go's default 30 s.
const pullExpiry = 2 * time.Second

// lookupTimeout bounds the request that binds or makes the consumer: a request
// that reaches a consumer with no leader is never answered, and is sent again.
const lookupTimeout = 5 * time.Second

// readTimeout bounds the cluster reads of one event's delivery: its job, its
// outcomes, its payload.
const readTimeout = 10 * time.Second

// DefaultBackoff is the delay before the n-th retry of an event (the last repeats).
var DefaultBackoff = []time.Duration{time.Second, 2 * time.Second, 5 * time.Second, 15 * time.Second, 30 * time.Second, time.Minute}

// Counter counts delivery attempts by outcome ("delivered", "failed"); the metrics
// package's Metrics is one.
type Counter interface{ Notified(outcome string) }

// Options configure New.
type Options struct {
	// JS is the agent's JetStream context. Required.
	JS jetstream.JetStream
	// Client reads job files, run records and output. Required.
	Client *operator.Client
	// Name is this server's name, sent in the User-Agent. Required.
	Name string
	// BaseURL is the HTTP interface the payload's url points into, such as
	// "http://10.0.0.1:4646"; empty leaves url out.
	BaseURL string
	// AckWait is how long an event stays with a server before it is redelivered to
	// another: the bound on a delivery, and the delay after a server dies. Default
	// DefaultAckWait.
	AckWait time.Duration
	// Backoff is the delay before each retry of an event whose delivery failed.
	// Default DefaultBackoff.
	Backoff []time.Duration
	// HTTP posts the webhooks. Default a client with DefaultHTTPTimeout.
	HTTP *http.Client
	// Counter, if set, counts delivery attempts.
	Counter Counter
	// Logger; default a no-op logger.
	Logger zerolog.Logger
}

// Payload is the JSON body POSTed to a webhook.
type Payload struct {
	Job string `json:"job"`
	// RunID is empty for a notice of many ticks skipped at once.
	RunID string `json:"run_id,omitempty"`
	// Outcome is failed, lost, skipped, recovered or complete.
	Outcome   string     `json:"outcome"`
	Reason    string     `json:"reason,omitempty"`
	Node      string     `json:"node,omitempty"`
	ExitCode  *int       `json:"exit_code,omitempty"`
	Scheduled *time.Time `json:"scheduled,omitempty"`
	Started   *time.Time `json:"started,omitempty"`
	Finished  *time.Time `json:"finished,omitempty"`
	LogTail   string     `json:"log_tail,omitempty"`
	URL       string     `json:"url,omitempty"`
	// Text is the notification in one line, for Slack and Mattermost.
	Text string `json:"text"`
}

// Notifier delivers one server's share of the notifications.
type Notifier struct {
	opts Options
	log  zerolog.Logger
}

// New checks the options and applies their defaults.
func New(o Options) (*Notifier, error) {
	if o.JS == nil || o.Client == nil || o.Name == "" {
		return nil, errors.New("notify: JS, Client and Name are required")
	}
	if o.AckWait <= 0 {
		o.AckWait = DefaultAckWait
	}
	if len(o.Backoff) == 0 {
		o.Backoff = DefaultBackoff
	}
	if o.HTTP == nil {
		o.HTTP = &http.Client{Timeout: DefaultHTTPTimeout}
	}
	return &Notifier{opts: o, log: o.Logger.With().Str("component", "notify").Logger()}, nil
}

// ConsumerConfig is the shared durable consumer: every event from since on (its
// creation: older events are not notified), acked explicitly, redelivered without
// limit.
func (n *Notifier) ConsumerConfig(since time.Time) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable: subjects.NotifyDurable, Description: "jetcron notifications",
		FilterSubject: subjects.EventFilter, DeliverPolicy: jetstream.DeliverByStartTimePolicy, OptStartTime: &since,
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: n.opts.AckWait, MaxDeliver: -1,
		MaxAckPending: 1000,
	}
}

// consumer binds the shared consumer, making it when no server has yet. The first
// server to make it decides where it starts; the others bind to it as it is.
func (n *Notifier) consumer(ctx context.Context) (jetstream.Consumer, error) {
	cons, err := n.opts.JS.Consumer(ctx, subjects.RunsStream, subjects.NotifyDurable)
	if err == nil {
		return cons, nil
	}
	if !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, err
	}
	cons, err = n.opts.JS.CreateConsumer(ctx, subjects.RunsStream, n.ConsumerConfig(time.Now().UTC()))
	if errors.Is(err, jetstream.ErrConsumerExists) {
		return n.opts.JS.Consumer(ctx, subjects.RunsStream, subjects.NotifyDurable)
	}
	return cons, err
}

// Run delivers notifications until ctx ends, making the consumer again after an
// error (an election, a server that went away).
func (n *Notifier) Run(ctx context.Context) error {
	for {
		err := n.consume(ctx)
		if ctx.Err() != nil {
			return nil
		}
		n.log.Warn().Err(err).Msg("notifications not consumed; retrying")
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

func (n *Notifier) consume(ctx context.Context) error {
	lctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	cons, err := n.consumer(lctx)
	cancel()
	if err != nil {
		return fmt.Errorf("consumer %s on %s: %w", subjects.NotifyDurable, subjects.RunsStream, err)
	}
	msgs, err := cons.Messages(jetstream.PullMaxMessages(16), jetstream.PullExpiry(pullExpiry))
	if err != nil {
		return fmt.Errorf("consume %s: %w", subjects.NotifyDurable, err)
	}
	stop := context.AfterFunc(ctx, msgs.Stop)
	defer stop()
	defer msgs.Stop()
	for {
		msg, err := msgs.Next()
		if err != nil {
			return err
		}
		n.handle(ctx, msg)
	}
}

// handle delivers one event to the webhooks that asked for it and acks it, or asks
// for it again after the backoff when a webhook or the cluster failed.
func (n *Notifier) handle(ctx context.Context, msg jetstream.Msg) {
	var ev subjects.Event
	if err := json.Unmarshal(msg.Data(), &ev); err != nil {
		n.log.Warn().Err(err).Str("subject", msg.Subject()).Msg("not a run event: dropped")
		_ = msg.Term()
		return
	}
	log := n.log.With().Str("job", ev.Job).Str("run_id", ev.RunID).Str("state", string(ev.State)).Logger()
	err := n.deliver(ctx, msg, &ev, log)
	if err == nil {
		if err := msg.DoubleAck(ctx); err != nil {
			log.Warn().Err(err).Msg("notification delivered, ack lost: it may be delivered again")
		}
		return
	}
	attempt := 1
	if md, mdErr := msg.Metadata(); mdErr == nil {
		attempt = int(md.NumDelivered)
	}
	delay := n.opts.Backoff[min(attempt, len(n.opts.Backoff))-1]
	log.Warn().Err(err).Int("attempt", attempt).Int64("retry_in_ms", delay.Milliseconds()).Msg("notification not delivered; will retry")
	_ = msg.NakWithDelay(delay) // if this is lost too, the ack wait redelivers it
}

// deliver POSTs the event to every webhook of its job that asked for its outcome.
func (n *Notifier) deliver(ctx context.Context, msg jetstream.Msg, ev *subjects.Event, log zerolog.Logger) error {
	if !notable(ev) || ev.Job == "" {
		return nil
	}
	// The reads are bounded on their own: a read (a watch of run records) sent while
	// a bucket elects a leader waits for its context, and the events behind this one
	// wait while it is held.
	readCtx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	v, err := n.opts.Client.LoadJob(readCtx, ev.Job)
	if errors.Is(err, operator.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if v.LastSpec == nil || len(v.LastSpec.Notify) == 0 {
		log.Debug().Msg("job has no notify: nothing to deliver")
		return nil
	}
	outcomes, err := n.outcomes(readCtx, ev, v.LastSpec.Notify)
	if err != nil || len(outcomes) == 0 {
		return err
	}
	var p *Payload
	var failed []error
	for _, hook := range v.LastSpec.Notify {
		for _, outcome := range outcomes {
			if !hook.Wants(outcome) {
				continue
			}
			if p == nil {
				p = n.payload(readCtx, ev)
			}
			p.Outcome, p.Text = outcome, text(p, outcome)
			_ = msg.InProgress()
			if err := n.post(ctx, hook.Webhook, p); err != nil {
				failed = append(failed, err)
				n.count("failed")
				continue
			}
			n.count("delivered")
			log.Info().Str("outcome", outcome).Msg("notification delivered")
		}
	}
	return errors.Join(failed...)
}

// notable reports whether an event can be notified: a run that ended, or a tick
// skipped for any reason but a pause. A paused job was paused on purpose; a webhook
// per paused tick would bury the notifications that matter. The restarting event of
// an execution that failed and starts again is not a run's end: a restarted run is
// notified once, with the outcome of its last execution.
func notable(ev *subjects.Event) bool {
	switch ev.State {
	case subjects.StateFailed, subjects.StateLost, subjects.StateComplete:
		return true
	case subjects.StateSkipped:
		return !job.IsPauseReason(ev.Reason)
	}
	return false
}

// outcomes are the notifications an event makes: its state, and recovered for the
// first complete run after a failed or lost one (read only when a webhook asks).
func (n *Notifier) outcomes(ctx context.Context, ev *subjects.Event, hooks []job.Notify) ([]string, error) {
	out := []string{string(ev.State)}
	if ev.State != subjects.StateComplete {
		return out, nil
	}
	wanted := false
	for i := range hooks {
		wanted = wanted || hooks[i].Wants(job.NotifyRecovered)
	}
	if !wanted {
		return out, nil
	}
	recovered, err := n.recovered(ctx, ev)
	if err != nil {
		return nil, err
	}
	if recovered {
		out = append(out, job.NotifyRecovered)
	}
	return out, nil
}

// recovered reports whether the newest run of the job before ev's that completed,
// failed or was lost (skipped ticks left out) failed or was lost.
func (n *Notifier) recovered(ctx context.Context, ev *subjects.Event) (bool, error) {
	_, tick, err := subjects.ParseRunID(ev.RunID)
	if err != nil {
		return false, nil
	}
	runs, err := n.opts.Client.Runs(ctx, ev.Job, historyRuns)
	if err != nil {
		return false, err
	}
	for i := len(runs) - 1; i >= 0; i-- {
		r := runs[i]
		if r.Scheduled >= tick.Unix() {
			continue
		}
		switch r.State {
		case subjects.StateFailed, subjects.StateLost:
			return true, nil
		case subjects.StateComplete:
			return false, nil
		}
	}
	return false, nil
}

// payload fills what the event and the run's record and output say. What cannot
// be read is left out: the notification goes out all the same.
func (n *Notifier) payload(ctx context.Context, ev *subjects.Event) *Payload {
	p := &Payload{Job: ev.Job, RunID: ev.RunID, Reason: ev.Reason, Node: ev.Node, ExitCode: ev.ExitCode}
	if ev.RunID == "" {
		return p
	}
	if _, tick, err := subjects.ParseRunID(ev.RunID); err == nil {
		p.Scheduled = &tick
	}
	if n.opts.BaseURL != "" {
		p.URL = n.opts.BaseURL + "/v1/run/" + ev.RunID
	}
	logs, run, err := n.opts.Client.RunLogs(ctx, ev.RunID)
	if err != nil {
		return p
	}
	if len(logs) > logTailBytes {
		logs = logs[len(logs)-logTailBytes:]
	}
	p.LogTail = string(logs)
	if run == nil {
		return p
	}
	if a := run.Current(); a != nil {
		p.Started, p.Finished = a.Started, a.Finished
		if p.Node == "" {
			p.Node = a.Node
		}
		if p.ExitCode == nil {
			p.ExitCode = a.ExitCode
		}
		if p.Reason == "" {
			p.Reason = operator.RunReason(run)
		}
	}
	return p
}

// text is the one-line form of a notification.
func text(p *Payload, outcome string) string {
	what := p.RunID
	if what == "" {
		what = p.Job
	}
	s := fmt.Sprintf("jetcron: %s %s", what, outcome)
	if p.Node != "" {
		s += " on " + p.Node
	}
	if p.ExitCode != nil && outcome != job.NotifyRecovered {
		s += fmt.Sprintf(" (exit code %d)", *p.ExitCode)
	}
	if p.Reason != "" && outcome != job.NotifyRecovered && outcome != job.NotifyComplete {
		s += ": " + p.Reason
	}
	return s
}

// post sends p to hook; any answer but 2xx is an error.
func (n *Notifier) post(ctx context.Context, hook string, p *Payload) error {
	body, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encode notification: %w", err)
	}
	// A webhook's URL is its secret (Slack's are): errors never show it.
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hook, bytes.NewReader(body))
	if err != nil {
		return errors.New("webhook: malformed URL")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "jetcron/"+n.opts.Name)
	resp, err := n.opts.HTTP.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("webhook of host %s: %w", req.URL.Host, err)
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook of host %s answered %s", req.URL.Host, resp.Status)
	}
	return nil
}

func (n *Notifier) count(outcome string) {
	if n.opts.Counter != nil {
		n.opts.Counter.Notified(outcome)
	}
}
