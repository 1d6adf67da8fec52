package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetcron/jetcron/embed"
	"github.com/jetcron/jetcron/job"
	"github.com/jetcron/jetcron/subjects"
)

// devStart stores the job files of Options.JobsDir and tells a newcomer what to do
// next.
func (a *agent) devStart(ctx context.Context, js jetstream.JetStream, srv *embed.Server) error {
	kv, err := js.KeyValue(ctx, subjects.JobsBucket)
	if err != nil {
		return fmt.Errorf("jobs bucket: %w", err)
	}
	var stored []string
	if a.opts.JobsDir != "" {
		files, err := filepath.Glob(filepath.Join(a.opts.JobsDir, "*.yaml"))
		if err != nil || len(files) == 0 {
			return fmt.Errorf("-jobs %s: no *.yaml job files there", a.opts.JobsDir)
		}
		sort.Strings(files)
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				return fmt.Errorf("-jobs: %w", err)
			}
			name := strings.TrimSuffix(filepath.Base(file), ".yaml")
			if _, err := job.Parse(name, data); err != nil {
				return fmt.Errorf("-jobs: %s: %w", file, err)
			}
			if _, err := kv.Put(ctx, name, data); err != nil {
				return fmt.Errorf("-jobs: store %s: %w", name, err)
			}
			stored = append(stored, name)
		}
	}
	url := strings.Join(a.cfg.ClientServerURLs(), ",")
	if srv != nil {
		url = srv.ClientURL()
	}
	fmt.Fprintf(a.opts.Out, "\njetcron dev agent %q is up: NATS at %s, data in %s (%s, jetcron %s).\n",
		a.cfg.Name, url, a.cfg.DataDir, runtime.GOOS, a.opts.Version)
	if len(stored) > 0 {
		fmt.Fprintf(a.opts.Out, "Stored job(s) %s from %s. Watch them run:\n", strings.Join(stored, ", "), a.opts.JobsDir)
		fmt.Fprintf(a.opts.Out, "  jetcron job status %s\n  nats stream view runs\n\n", stored[0])
		return nil
	}
	fmt.Fprintln(a.opts.Out, "Define a first job, then watch it run:")
	fmt.Fprintln(a.opts.Out, "  jetcron job run configs/jobs/hello.yaml      # or: nats kv put jobs hello \"$(cat configs/jobs/hello.yaml)\"")
	fmt.Fprintln(a.opts.Out, "  jetcron job status hello")
	fmt.Fprintln(a.opts.Out, "  nats stream view runs")
	fmt.Fprintln(a.opts.Out)
	return nil
}
