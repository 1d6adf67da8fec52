// Package api is jetcron's HTTP interface on ports.http (DESIGN.md, "Seeing what
// happens"): the read-only /v1 views, with the same JSON as the CLI's -json (both
// come from package operator), the web UI at /ui/ (package ui; / redirects there),
// /v1/health, and /metrics.
//
// Access: nothing served here changes state (force, stop, drain and submit stay with
// the CLI, which logs in with NATS credentials), so no credentials are taken over
// HTTP. With ACLs on, the views, the UI and /metrics are served only when the config
// opens them (http.open_read: true); /v1/health is always served, and says nothing of
// jobs.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/jetcron/jetcron/operator"
	"github.com/jetcron/jetcron/ui"
)

// requestTimeout bounds what one request asks of the cluster.
const requestTimeout = 10 * time.Second

// Options configure Handler.
type Options struct {
	// Client answers the views. Required.
	Client *operator.Client
	// Health reports whether this agent can do its part; nil reports healthy.
	Health func(ctx context.Context) Health
	// Metrics serves /metrics; nil leaves it out (a client agent).
	Metrics http.Handler
	// Closed refuses the views, the UI and /metrics with 403: ACLs are on and
	// http.open_read is false.
	Closed bool
	// Debug serves Go's pprof under /debug/pprof/ (enable_debug).
	Debug bool
	// Logger; default a no-op logger.
	Logger zerolog.Logger
}

// Health is the answer of /v1/health: 200 with Status "ok" when every check passed,
// 503 with Status "unavailable" and the failed checks' reasons otherwise.
type Health struct {
	Status string  `json:"status"`
	Role   string  `json:"role"`
	Checks []Check `json:"checks"`
}

// Check is one thing an agent needs to do its part.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

// Health statuses.
const (
	HealthOK          = "ok"
	HealthUnavailable = "unavailable"
)

// NewHealth makes a Health of role from checks: ok when all passed.
func NewHealth(role string, checks ...Check) Health {
	h := Health{Status: HealthOK, Role: role, Checks: checks}
	for _, c := range checks {
		if !c.OK {
			h.Status = HealthUnavailable
		}
	}
	return h
}

// Handler returns the HTTP handler of every endpoint.
func Handler(o Options) http.Handler {
	s := &server{opts: o, log: o.Logger.With().Str("component", "api").Logger()}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/health", s.health)
	mux.HandleFunc("GET /v1/jobs", s.view(s.jobs))
	mux.HandleFunc("GET /v1/job/{name}", s.view(s.job))
	mux.HandleFunc("GET /v1/job/{name}/runs", s.view(s.runs))
	mux.Handle("GET /v1/run/{id...}", s.guard(s.runOrFollow()))
	mux.HandleFunc("GET /v1/nodes", s.view(s.nodes))
	mux.HandleFunc("GET /v1/members", s.view(s.members))
	mux.HandleFunc("GET /v1/plan", s.view(s.plan))
	mux.Handle("GET "+ui.Prefix, s.guard(ui.Handler(ui.Options{Client: o.Client, Logger: o.Logger})))
	mux.Handle("GET /{$}", http.RedirectHandler(ui.Prefix, http.StatusFound))
	if o.Metrics != nil {
		mux.Handle("GET /metrics", s.guard(o.Metrics))
	}
	if o.Debug {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

type server struct {
	opts Options
	log  zerolog.Logger
}

// errClosed is the 403 answer while the views are closed.
var errClosed = errors.New("read-only views are closed: acl is on and http.open_read is false (set http.open_read: true in the agent's config to open them and the web UI)")

// guard refuses h with 403 while the views are closed.
func (s *server) guard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.opts.Closed {
			writeError(w, http.StatusForbidden, errClosed)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// view serves fn's value as JSON, or its error with the status it calls for.
func (s *server) view(fn func(ctx context.Context, r *http.Request) (any, error)) http.HandlerFunc {
	return s.guard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
		defer cancel()
		v, err := fn(ctx, r)
		if err != nil {
			status := operator.HTTPStatus(err)
			if status >= 500 {
				s.log.Warn().Err(err).Str("path", r.URL.Path).Msg("view not answered")
			}
			writeError(w, status, err)
			return
		}
		writeJSON(w, http.StatusOK, v)
	})).ServeHTTP
}

func (s *server) jobs(ctx context.Context, _ *http.Request) (any, error) {
	return s.opts.Client.Jobs(ctx, nil)
}

func (s *server) job(ctx context.Context, r *http.Request) (any, error) {
	st, _, err := s.opts.Client.Job(ctx, r.PathValue("name"), time.Now())
	return st, err
}

func (s *server) runs(ctx context.Context, r *http.Request) (any, error) {
	name := r.PathValue("name")
	if _, err := s.opts.Client.LoadJob(ctx, name); err != nil {
		return nil, err
	}
	return s.opts.Client.Runs(ctx, name, operator.RecentRuns)
}

// runOrFollow serves /v1/run/<id>/logs?follow=1 as Server-Sent Events, and the rest
// of /v1/run/... as JSON views.
func (s *server) runOrFollow() http.Handler {
	view := s.view(s.run)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		runID, logs := strings.CutSuffix(r.PathValue("id"), "/logs")
		if !logs || r.URL.Query().Get("follow") == "" {
			view(w, r)
			return
		}
		s.follow(w, r, runID)
	})
}

// follow streams a run as Server-Sent Events: an "output" event ({run_id, output,
// run}, as /v1/run/<id>/logs) now and at each change of the run, then "end" when it
// has ended, or "error" with {"error": ...}. The stream lasts as long as the run.
func (s *server) follow(w http.ResponseWriter, r *http.Request, runID string) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, errors.New("streaming is not supported here"))
		return
	}
	started := false
	send := func(event string, v any) error {
		if !started {
			w.Header().Set("Content-Type", "text/event-stream")
			w.Header().Set("Cache-Control", "no-cache")
			w.WriteHeader(http.StatusOK)
			started = true
		}
		data, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, data); err != nil {
			return err
		}
		flusher.Flush()
		return nil
	}
	err := s.opts.Client.FollowRun(r.Context(), runID, func(o operator.RunOutput) error { return send("output", o) })
	switch {
	case err == nil:
		_ = send("end", map[string]string{"run_id": runID})
	case r.Context().Err() != nil: // the client went away
	case !started:
		writeError(w, operator.HTTPStatus(err), err)
	default:
		s.log.Warn().Err(err).Str("run_id", runID).Msg("run follow cut short")
		_ = send("error", map[string]string{"error": err.Error()})
	}
}

// run serves /v1/run/<job>/periodic-<unix>[/<node>] (a sysbatch tick with its node
// runs) and /v1/run/<id>/logs. A path ending in /logs is always the logs view: the
// record of a node named "logs" is not served at its bare path.
func (s *server) run(ctx context.Context, r *http.Request) (any, error) {
	id := r.PathValue("id")
	if runID, ok := strings.CutSuffix(id, "/logs"); ok {
		logs, run, err := s.opts.Client.RunLogs(ctx, runID)
		if err != nil {
			return nil, err
		}
		return operator.RunOutput{RunID: runID, Output: string(logs), Run: run}, nil
	}
	return s.opts.Client.RunStatus(ctx, id)
}

func (s *server) nodes(ctx context.Context, _ *http.Request) (any, error) {
	return s.opts.Client.Nodes(ctx, time.Now(), nil)
}

// plan serves /v1/plan?next=24h&from=RFC3339&job=NAME&limit=N.
func (s *server) plan(ctx context.Context, r *http.Request) (any, error) {
	q := operator.PlanQuery{Job: r.URL.Query().Get("job")}
	if v := r.URL.Query().Get("next"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return nil, fmt.Errorf("next %q: want a duration such as 24h: %w", v, operator.ErrInvalid)
		}
		q.Window = d
	}
	if v := r.URL.Query().Get("from"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return nil, fmt.Errorf("from %q: want RFC 3339: %w", v, operator.ErrInvalid)
		}
		q.From = t
	}
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, fmt.Errorf("limit %q: want a number: %w", v, operator.ErrInvalid)
		}
		q.Limit = n
	}
	return s.opts.Client.Plan(ctx, time.Now(), q)
}

func (s *server) members(ctx context.Context, _ *http.Request) (any, error) {
	return s.opts.Client.Members(ctx, time.Now(), nil)
}

// health serves /v1/health: 200 when this agent can do its part, 503 with the reason.
func (s *server) health(w http.ResponseWriter, r *http.Request) {
	h := NewHealth("")
	if s.opts.Health != nil {
		ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
		defer cancel()
		h = s.opts.Health(ctx)
	}
	status := http.StatusOK
	if h.Status != HealthOK {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, h)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away: nothing to do
}

func writeError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

// Serve serves h on ln until ctx ends, then shuts down, giving requests in flight a
// few seconds. It closes ln.
func Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	return srv.Shutdown(shutCtx)
}
