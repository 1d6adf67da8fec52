// Package metrics serves jetcron's Prometheus metrics (DESIGN.md, "Seeing what
// happens"). Every server follows the run events of the whole cluster on the runs
// stream with an ordered consumer, from the oldest the stream keeps, so that a scrape
// of any one server shows every job's outcomes and last success. The ticker leader and
// the nodes are read from their buckets at scrape time.
//
// Metrics:
//
//	jetcron_runs_total{job,outcome}                       runs that ended: complete, failed, lost, skipped
//	jetcron_run_start_delay_seconds                       histogram, tick → process started
//	jetcron_run_duration_seconds                          histogram, process start → end
//	jetcron_job_last_success_timestamp_seconds{job}       when the job's last run completed
//	jetcron_job_last_run_timestamp_seconds{job,outcome}   when the job's last run of each outcome ended
//	jetcron_ticker_leader                                 1 on the server whose ticker holds the lock
//	jetcron_nodes{status}                                 client nodes by status: ready, down
//	jetcron_notifications_total{outcome}                  webhook deliveries: delivered, failed
package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/jetcron/jetcron/operator"
	"github.com/jetcron/jetcron/subjects"
)

// scrapeTimeout bounds the bucket reads of one scrape.
const scrapeTimeout = 2 * time.Second

// Options configure New.
type Options struct {
	// JS is the agent's JetStream context. Required.
	JS jetstream.JetStream
	// Client reads the lock and the nodes at scrape time. Required.
	Client *operator.Client
	// Name is this server's name: jetcron_ticker_leader is 1 while the lock's holder
	// is Name. Required.
	Name string
	// Logger; default a no-op logger.
	Logger zerolog.Logger
}

// Metrics is one server's set of jetcron metrics. Run follows the run events; Handler
// serves them.
type Metrics struct {
	opts          Options
	log           zerolog.Logger
	reg           *prometheus.Registry
	runs          *prometheus.CounterVec
	startDelay    prometheus.Histogram
	duration      prometheus.Histogram
	lastSuccess   *prometheus.GaugeVec
	lastRun       *prometheus.GaugeVec
	notifications *prometheus.CounterVec

	mu sync.Mutex
	// newest is each last-run and last-success gauge's value, by a key of its labels.
	newest map[string]float64
	// seq is the stream sequence of the last event read; follow resumes after it.
	seq uint64
}

// New registers jetcron's metrics in a registry of their own (with the Go and
// process collectors).
func New(o Options) (*Metrics, error) {
	if o.JS == nil || o.Client == nil || o.Name == "" {
		return nil, errors.New("metrics: JS, Client and Name are required")
	}
	m := &Metrics{
		newest: map[string]float64{},
		opts:   o, log: o.Logger.With().Str("component", "metrics").Logger(), reg: prometheus.NewRegistry(),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jetcron_runs_total", Help: "Runs that ended, by job and outcome (complete, failed, lost, skipped).",
		}, []string{"job", "outcome"}),
		startDelay: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "jetcron_run_start_delay_seconds", Help: "How long after its tick a run's process started.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 600},
		}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "jetcron_run_duration_seconds", Help: "How long a run's process ran, from start to exit.",
			Buckets: prometheus.ExponentialBuckets(0.1, 4, 10), // 0.1 s .. 7.3 h
		}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "jetcron_job_last_success_timestamp_seconds", Help: "When the job's last complete run ended (Unix seconds).",
		}, []string{"job"}),
		lastRun: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "jetcron_job_last_run_timestamp_seconds", Help: "When the job's last run of each outcome ended (Unix seconds).",
		}, []string{"job", "outcome"}),
		notifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jetcron_notifications_total", Help: "Webhook delivery attempts by this server, by outcome (delivered, failed).",
		}, []string{"outcome"}),
	}
	for _, c := range []prometheus.Collector{
		m.runs, m.startDelay, m.duration, m.lastSuccess, m.lastRun, m.notifications, &clusterCollector{m: m},
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}),
	} {
		if err := m.reg.Register(c); err != nil {
			return nil, fmt.Errorf("metrics: register: %w", err)
		}
	}
	return m, nil
}

// Handler serves the metrics in Prometheus's text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Notified counts one webhook delivery attempt: outcome is "delivered" or "failed".
func (m *Metrics) Notified(outcome string) { m.notifications.WithLabelValues(outcome).Inc() }

// Observe accounts for one run event: a terminal state counts a run of its outcome
// and sets the job's last-run (and last-success) time; the running state of a run's
// first execution observes the start delay; complete and failed observe the
// duration (of the run's last execution). A run restarted after a failed execution
// counts once, with its outcome: the failed execution's event is restarting, which
// counts nothing, and a restart's running event is not the run's start.
func (m *Metrics) Observe(ev *subjects.Event) {
	if ev.Job == "" {
		return
	}
	ts := float64(ev.Time.UnixNano()) / 1e9
	switch ev.State {
	case subjects.StateRunning:
		if ev.Restart > 0 {
			return
		}
		if _, tick, err := subjects.ParseRunID(ev.RunID); err == nil && !ev.Time.IsZero() {
			m.startDelay.Observe(max(0, ev.Time.Sub(tick).Seconds()))
		}
	case subjects.StateComplete, subjects.StateFailed, subjects.StateLost, subjects.StateSkipped:
		m.runs.WithLabelValues(ev.Job, string(ev.State)).Inc()
		m.setMax(m.lastRun.WithLabelValues(ev.Job, string(ev.State)), "run\x00"+ev.Job+"\x00"+string(ev.State), ts)
		if ev.State == subjects.StateComplete {
			m.setMax(m.lastSuccess.WithLabelValues(ev.Job), "success\x00"+ev.Job, ts)
		}
		if ev.State == subjects.StateComplete || ev.State == subjects.StateFailed {
			if ev.Duration > 0 {
				m.duration.Observe(ev.Duration.Duration().Seconds())
			}
		}
	}
}

// setMax sets the gauge named by key to v unless it holds a newer time: events of
// two runs of a job may be stored out of order.
func (m *Metrics) setMax(g prometheus.Gauge, key string, v float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.newest[key] < v {
		m.newest[key] = v
		g.Set(v)
	}
}

// Run follows every run event of the cluster, from the oldest the runs stream keeps,
// until ctx ends. The ordered consumer is made again after an error (an election, a
// server that went away).
func (m *Metrics) Run(ctx context.Context) error {
	for {
		err := m.follow(ctx)
		if ctx.Err() != nil {
			return nil
		}
		m.log.Warn().Err(err).Msg("run events not followed; retrying")
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

// follow reads run events into the metrics until ctx ends or the consumer fails.
// It resumes after the last event it read, so that no event counts twice.
func (m *Metrics) follow(ctx context.Context) error {
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{subjects.EventFilter}}
	if m.seq > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, m.seq+1
	}
	cons, err := m.opts.JS.OrderedConsumer(ctx, subjects.RunsStream, cfg)
	if err != nil {
		return fmt.Errorf("ordered consumer on %s: %w", subjects.RunsStream, err)
	}
	msgs, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("consume %s: %w", subjects.RunsStream, err)
	}
	go func() {
		<-ctx.Done()
		msgs.Stop()
	}()
	defer msgs.Stop()
	for {
		msg, err := msgs.Next()
		if err != nil {
			return err
		}
		if md, err := msg.Metadata(); err == nil {
			m.seq = md.Sequence.Stream
		}
		var ev subjects.Event
		if err := json.Unmarshal(msg.Data(), &ev); err != nil {
			m.log.Debug().Err(err).Str("subject", msg.Subject()).Msg("not a run event")
			continue
		}
		m.Observe(&ev)
	}
}

// clusterCollector reads, at each scrape, who holds the ticker lock and the nodes'
// statuses.
type clusterCollector struct{ m *Metrics }

var (
	leaderDesc = prometheus.NewDesc("jetcron_ticker_leader", "1 on the server whose ticker holds the lock, else 0.", nil, nil)
	nodesDesc  = prometheus.NewDesc("jetcron_nodes", "Client nodes by status (ready, down).", []string{"status"}, nil)
)

// Describe sends the two descriptions.
func (c *clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- leaderDesc
	ch <- nodesDesc
}

// Collect reads the lock and the nodes; a bucket that does not answer within
// scrapeTimeout leaves its metric out of this scrape (and is logged), rather than
// reporting a made-up value.
func (c *clusterCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	lock, err := c.m.opts.Client.Lock(ctx)
	if err != nil {
		c.m.log.Warn().Err(err).Msg("scrape: ticker lock not read")
	} else {
		leader := 0.0
		if lock != nil && lock.Holder == c.m.opts.Name {
			leader = 1
		}
		ch <- prometheus.MustNewConstMetric(leaderDesc, prometheus.GaugeValue, leader)
	}
	nodes, err := c.m.opts.Client.Nodes(ctx, time.Now(), nil)
	if err != nil {
		c.m.log.Warn().Err(err).Msg("scrape: nodes not read")
		return
	}
	counts := map[string]float64{subjects.StatusReady: 0, subjects.StatusDown: 0}
	for _, n := range nodes {
		counts[n.Status]++
	}
	for status, n := range counts {
		ch <- prometheus.MustNewConstMetric(nodesDesc, prometheus.GaugeValue, n, status)
	}
}
