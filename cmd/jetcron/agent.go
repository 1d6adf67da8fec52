package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/rs/zerolog"

	"github.com/jetcron/jetcron/agent"
	"github.com/jetcron/jetcron/configs"
)

// stringList is a repeatable flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// agentFlags are the agent's command line.
type agentFlags struct {
	configs   stringList
	jobsDir   string
	overrides configs.Overrides
	servers   string
	retryJoin string
}

func parseAgentFlags(args []string, stderr io.Writer) (*agentFlags, error) {
	var f agentFlags
	fs := flag.NewFlagSet("jetcron agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Var(&f.configs, "config", "a config file or a folder of *.yaml files; repeat to add more (later ones win)")
	fs.BoolVar(&f.overrides.Dev, "dev", false, "one process, server and runner, for trying jetcron out (temporary data dir unless -data-dir)")
	fs.StringVar(&f.jobsDir, "jobs", "", "with -dev: store the job files (*.yaml) of this folder in the jobs bucket at start")
	fs.StringVar(&f.overrides.DataDir, "data-dir", "", "replaces data_dir")
	fs.StringVar(&f.overrides.BindAddr, "bind", "", "replaces bind_addr")
	fs.StringVar(&f.overrides.Name, "node", "", "replaces name (the node name; default the host name)")
	fs.StringVar(&f.overrides.LogLevel, "log-level", "", "replaces log_level")
	fs.StringVar(&f.overrides.Datacenter, "dc", "", "replaces datacenter")
	fs.StringVar(&f.overrides.Region, "region", "", "replaces region")
	fs.StringVar(&f.servers, "servers", "", "replaces client.servers (comma-separated host[:port])")
	fs.StringVar(&f.retryJoin, "retry-join", "", "replaces server.retry_join (comma-separated host[:port])")
	fs.StringVar(&f.overrides.NATSURL, "nats-url", "", "replaces nats.url: use this NATS instead of the embedded server")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: jetcron agent [-dev] [-config FILE|DIR ...] [options]")
		fmt.Fprintln(stderr, "\nRuns a server (server.enabled), a runner host (client.enabled), or both (-dev).")
		fmt.Fprintln(stderr, "\nOptions:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if f.jobsDir != "" && !f.overrides.Dev {
		return nil, errors.New("-jobs works with -dev only; define jobs with `nats kv put jobs` or `jetcron job run`")
	}
	f.overrides.Servers = splitList(f.servers)
	f.overrides.RetryJoin = splitList(f.retryJoin)
	return &f, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// runAgent runs `jetcron agent` until SIGINT or SIGTERM.
func runAgent(args []string) int {
	f, err := parseAgentFlags(args, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "Error: %v\n", err)
		return exitUsage
	}
	cfg, err := configs.Load(f.configs, f.overrides)
	if err != nil {
		fmt.Fprintf(os.Stderr, "Error: invalid configuration:\n%v\n", err)
		return exitError
	}
	log := newLogger(cfg)
	agent.WarnInsecure(cfg, f.overrides.Dev, os.Stderr)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	alog := log.With().Str("component", "agent").Str("node", cfg.Name).Logger()
	if cfg.Server.Enabled {
		alog.Info().Int64("memory_limit_mib", limitServerMemory()>>20).Msg("soft memory limit (GOMEMLIMIT sets another)")
	}
	err = agent.Run(ctx, cfg, agent.Options{
		Logger: log, Version: version, Dev: f.overrides.Dev, JobsDir: f.jobsDir, Out: os.Stdout,
	})
	if err != nil {
		alog.Error().Err(err).Msg("agent stopped")
		return exitError
	}
	return exitOK
}

// newLogger logs at the configured level, human-readable on a terminal and JSON
// otherwise. Each component adds itself and the node to its lines.
func newLogger(cfg *configs.Config) zerolog.Logger {
	level, err := zerolog.ParseLevel(strings.ToLower(cfg.LogLevel))
	if err != nil {
		level = zerolog.InfoLevel
	}
	var w io.Writer = os.Stderr
	if fi, err := os.Stderr.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		w = zerolog.ConsoleWriter{Out: os.Stderr, TimeFormat: "15:04:05.000"}
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger()
}

// serverMemoryLimit is a server agent's soft memory limit, unless GOMEMLIMIT sets
// another. A server keeps every job in memory (about 1 KB each) next to the embedded
// JetStream's indexes and block caches, and Go by default lets the heap grow to twice
// what is live before it collects: with 100,000 jobs a server would settle at
// 400-600 MB. Near the limit the collector runs sooner instead. The limit is soft:
// live data beyond it (several hundred thousand jobs) is kept at the cost of more
// frequent collections (Go caps them at half the CPU); raise GOMEMLIMIT for those.
const serverMemoryLimit = 256 << 20

// limitServerMemory sets serverMemoryLimit unless GOMEMLIMIT is set, and returns the
// limit in force.
func limitServerMemory() int64 {
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(serverMemoryLimit)
	}
	return debug.SetMemoryLimit(-1)
}
