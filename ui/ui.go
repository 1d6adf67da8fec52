// Package ui is jetcron's web UI at /ui/ (DESIGN.md, "Seeing what happens"): the
// operator layer's data rendered as HTML on the server. Pages: the jobs (paged and
// filtered), a job with its runs of the last 7 days as a timeline, a run with its
// log (followed live while it runs, through /v1/run/<id>/logs?follow=1), the nodes,
// the server members and the plan of the next 24 h. Templates, CSS and script are
// embedded in the binary: nothing is fetched from anywhere else.
//
// The UI changes no state: the HTTP interface takes no credentials, so where a person
// would want a force, pause or drain button, the page shows the CLI command to copy.
// Who may see it is the caller's rule: package api serves it under the rule of its
// read-only views.
package ui

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strconv"
	"time"

	"github.com/rs/zerolog"

	"github.com/jetcron/jetcron/operator"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// Prefix is where the UI is served; every link it renders starts with it.
const Prefix = "/ui/"

// requestTimeout bounds what one page asks of the cluster.
const requestTimeout = 10 * time.Second

// Options configure Handler.
type Options struct {
	// Client answers the pages. Required.
	Client *operator.Client
	// Logger; default a no-op logger.
	Logger zerolog.Logger
}

// Handler serves the UI's pages under Prefix, and its CSS and script under
// Prefix/static/. Each page answers GET only, with the status of the operator's
// error (operator.HTTPStatus) when it cannot be read, and a Server-Timing header
// ("read;dur=MS, render;dur=MS") saying where its time went.
func Handler(o Options) http.Handler {
	s := &server{client: o.Client, log: o.Logger.With().Str("component", "ui").Logger(), pages: parsePages()}
	mux := http.NewServeMux()
	mux.Handle("GET "+Prefix+"{$}", s.page("jobs", s.jobs))
	mux.Handle("GET "+Prefix+"job/{name...}", s.page("job", s.job))
	mux.Handle("GET "+Prefix+"run/{id...}", s.page("run", s.run))
	mux.Handle("GET "+Prefix+"nodes", s.page("nodes", s.nodes))
	mux.Handle("GET "+Prefix+"members", s.page("members", s.members))
	mux.Handle("GET "+Prefix+"plan", s.page("plan", s.plan))
	static, err := fs.Sub(staticFiles, "static")
	if err != nil {
		panic(err) // the embedded tree has a static folder
	}
	mux.Handle("GET "+Prefix+"static/", http.StripPrefix(Prefix+"static/", http.FileServerFS(static)))
	mux.Handle(Prefix, s.page("error", func(context.Context, *http.Request, time.Time) (view, error) {
		return view{}, fmt.Errorf("no such page: %w", operator.ErrNotFound)
	}))
	return mux
}

type server struct {
	client *operator.Client
	log    zerolog.Logger
	pages  map[string]*template.Template
}

// view is what the layout renders: the page's title, the navigation entry it is
// under, and the page's own data.
type view struct {
	Title string
	Nav   string
	Data  any
}

// pageNames are the templates of templates/, each rendered inside layout.html.
var pageNames = []string{"jobs", "job", "run", "nodes", "members", "plan", "error"}

// parsePages parses each page with the layout and the helpers of funcs.
func parsePages() map[string]*template.Template {
	pages := map[string]*template.Template{}
	for _, name := range pageNames {
		pages[name] = template.Must(template.New(name).Funcs(funcs).
			ParseFS(templateFiles, "templates/layout.html", "templates/"+name+".html"))
	}
	return pages
}

// errorData is the error page's.
type errorData struct {
	Status  int
	Message string
}

// page serves the page name: load reads what it shows at now, then the page's
// template renders it into a buffer, so that an error in either is answered with
// the error page and its status, never with half a page.
func (s *server) page(name string, load func(ctx context.Context, r *http.Request, now time.Time) (view, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
		defer cancel()
		t0 := time.Now()
		v, err := load(ctx, r, t0)
		read := time.Since(t0)
		status := http.StatusOK
		if err != nil {
			status = operator.HTTPStatus(err)
			if status >= 500 {
				s.log.Warn().Err(err).Str("path", r.URL.Path).Msg("page not served")
			}
			name, v = "error", view{Title: http.StatusText(status), Data: errorData{Status: status, Message: err.Error()}}
		}
		t1 := time.Now()
		var buf bytes.Buffer
		if err := s.pages[name].ExecuteTemplate(&buf, "layout", v); err != nil {
			s.log.Error().Err(err).Str("page", name).Msg("page not rendered")
			http.Error(w, "page not rendered: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Server-Timing", serverTiming(read, time.Since(t1)))
		w.WriteHeader(status)
		_, _ = w.Write(buf.Bytes()) // the client went away: nothing to do
	})
}

// serverTiming is the Server-Timing header of a page read in read and rendered in
// render.
func serverTiming(read, render time.Duration) string {
	ms := func(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 2, 64) }
	return "read;dur=" + ms(read) + ", render;dur=" + ms(render)
}

// intParam reads the query parameter param of r as a number; 0 when it is absent.
// The error wraps operator.ErrInvalid.
func intParam(r *http.Request, param string) (int, error) {
	v := r.URL.Query().Get(param)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("%s %q: want a number: %w", param, v, operator.ErrInvalid)
	}
	return n, nil
}
