// Package runner is the client side of jetcron: it registers its node in the nodes
// bucket and keeps it alive with a heartbeat, consumes the launches addressed to its
// node name through a durable pull consumer, claims each run with a revision-checked
// update of its record (so that a run is claimed at most once, even when its launch is
// delivered twice or was re-placed meanwhile), executes the task's command without a
// shell in its own process group, and records the outcome, the output tail and the
// run's events.
//
// Restarts: an execution that fails on its own (an exit code, a signal, a timeout, a
// start error) is started again on this node after the delay of the launch's restart
// policy, while the policy has restarts left, as Nomad's restart stanza in mode
// "fail". Each restart is an allocation of the run record, made by the runner on its
// own node and session; the run stays running in between (restart.go). A restart
// starts only through a revision-checked update from the runner's own last write, so
// one whose run was declared lost during its delay (this host paused past its TTL)
// never starts.
//
// Fencing: on every heartbeat the runner re-reads the record of each run it executes.
// If the run's current allocation is no longer this node's running one (typically the
// ticker declared it lost while this process was paused), the runner kills the run's
// process group at once, so that a rescheduled execution elsewhere never overlaps a
// stale one for longer than one heartbeat interval after the pause ends. On Linux a
// run's command also gets SIGKILL from the kernel when the agent process dies
// (parent-death signal), so that a crashed agent does not leave it running to overlap
// its rescheduled execution; processes the command started itself are not covered.
//
// KV reads may be served by any replica (direct gets) and lag behind the leader for
// a moment; the runner therefore never acts on a run record older than a revision it
// knows exists (the launch's, or its own claim's): it reads again instead.
package runner

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/jetcron/jetcron/clock"
)

// Defaults of Options.
const (
	DefaultMaxParallel       = 64
	DefaultHeartbeatInterval = time.Second
	DefaultHeartbeatTTL      = 5 * time.Second
	DefaultDatacenter        = "dc1"
	// DefaultKillTimeout is how long a run gets between SIGTERM and SIGKILL when its
	// task sets no kill_timeout.
	DefaultKillTimeout = 5 * time.Second
	// OutputTailSize is how much of a run's combined stdout and stderr is kept in
	// the logs bucket: the last 64 KiB.
	OutputTailSize = 64 << 10
	// DriverRawExec is the one driver the runner has.
	DriverRawExec = "raw_exec"
	// RawExecOption is the client option that enables the raw_exec driver ("1" or
	// "true"), as in Nomad.
	RawExecOption = "driver.raw_exec.enable"
	// AllowRootOption says whether a task without a user may run as root when the
	// runner runs as root: "1" or "true" allows it, "0" or "false" fails such runs
	// with ErrRunAsRoot. Left out, it is allowed (the jetcron agent sets "0" unless
	// its config says otherwise).
	AllowRootOption = "driver.raw_exec.allow_root"
	// CommandAllowlistOption restricts raw_exec to the commands that match one of
	// its comma-separated globs (path.Match: "*" does not cross "/"), such as
	// "/usr/local/bin/*,/opt/backup/bin/run". Left out, any command may run.
	CommandAllowlistOption = "driver.raw_exec.command_allowlist"
	// EnvAllowlistOption passes only the agent's environment variables whose names
	// match one of its comma-separated globs ("PATH,LANG,LC_*") to runs, instead of
	// the whole environment. The task's env and the JETCRON_* variables are always
	// set.
	EnvAllowlistOption = "driver.raw_exec.env_allowlist"
)

// Errors.
var (
	// ErrInvalidOptions is wrapped by every error New returns for bad Options.
	ErrInvalidOptions = errors.New("invalid runner options")
	// ErrAlreadyRunning is returned by Run when the runner is already running.
	ErrAlreadyRunning = errors.New("runner already running")
	// ErrDriverDisabled fails a run whose node has not enabled the raw_exec driver.
	ErrDriverDisabled = errors.New("driver raw_exec is not enabled on this node (client option driver.raw_exec.enable)")
	// ErrUnknownDriver fails a run whose task names a driver other than raw_exec.
	ErrUnknownDriver = errors.New("unknown driver")
	// ErrBadCommand fails a run whose command is not an absolute path to an
	// executable regular file that others cannot change (not writable by others,
	// in directories not writable by others unless sticky).
	ErrBadCommand = errors.New("bad command")
	// ErrCommandNotAllowed fails a run whose command matches no glob of the
	// client option driver.raw_exec.command_allowlist.
	ErrCommandNotAllowed = errors.New("command not allowed on this node (client option " + CommandAllowlistOption + ")")
	// ErrRunAsRoot fails a run without a task user on a runner that runs as root,
	// unless the client option driver.raw_exec.allow_root allows it.
	ErrRunAsRoot = errors.New("the agent runs as root and the task names no user: set task.user, or the client option " +
		AllowRootOption + ` = "1"`)
	// ErrBadUser fails a run whose task user does not exist, or that the runner
	// cannot switch to (it does not run as root).
	ErrBadUser = errors.New("bad task user")
)

// Options configure a Runner.
type Options struct {
	// JS is the JetStream context (required). The buckets and the runs stream must be
	// provisioned (subjects.Provision); Run waits for them when they are not yet.
	JS jetstream.JetStream
	// Conn is the connection JS uses; default JS.Conn(). It is used to flush
	// pending writes on shutdown.
	Conn *nats.Conn
	// Name is the node name (required): the launches addressed to it are executed
	// here. Several runner processes of one host may share a name; they share its
	// durable consumer.
	Name string
	// Datacenter of the node; default "dc1".
	Datacenter string
	// Class is the node class; default none.
	Class string
	// Meta is the node's user metadata (${meta.<key>} in constraints and args).
	Meta map[string]string
	// ClientOptions are the client's driver options: RawExecOption ("1" or "true")
	// enables the raw_exec driver, without which every run fails;
	// CommandAllowlistOption, EnvAllowlistOption and AllowRootOption restrict it.
	ClientOptions map[string]string
	// DataDir holds the node ID (DataDir/node-id) and the working directories of the
	// runs whose task names no work_dir (DataDir/runs/<alloc>) (required).
	DataDir string
	// MaxParallel bounds the runs executing at once; default 64.
	MaxParallel int
	// HeartbeatInterval is how often the node record is rewritten and the runs
	// executing here are checked against their records; default 1s.
	HeartbeatInterval time.Duration
	// HeartbeatTTL is how long after its last heartbeat the node counts as alive;
	// default 5s. It must exceed HeartbeatInterval.
	HeartbeatTTL time.Duration
	// ShutdownGrace is how long the runs executing here may go on once Run's ctx is
	// done: the runner takes no new launch meanwhile, and kills the runs still
	// running after it. 0 (the default) kills them at once.
	ShutdownGrace time.Duration
	// Version is jetcron's version, recorded as attr.jetcron.version and Build.
	Version string
	// Clock tells the time of heartbeats, starts and ends; default clock.Real{}.
	Clock clock.Clock
	// Logger receives the runner's logs, with component=runner and node added.
	Logger zerolog.Logger
}

// Runner executes the runs launched on one node. Make it with New; Run it (one Run
// at a time).
type Runner struct {
	opts Options
	log  zerolog.Logger

	mu      sync.Mutex
	running bool
}

// New checks opts, fills in defaults and returns a Runner. Errors wrap
// ErrInvalidOptions and name the option.
func New(opts Options) (*Runner, error) {
	bad := func(format string, args ...any) (*Runner, error) {
		return nil, fmt.Errorf("%w: %s", ErrInvalidOptions, fmt.Sprintf(format, args...))
	}
	if opts.JS == nil {
		return bad("JS is required")
	}
	if opts.Conn == nil {
		opts.Conn = opts.JS.Conn()
	}
	if opts.Name == "" {
		return bad("Name is required")
	}
	if opts.DataDir == "" {
		return bad("DataDir is required")
	}
	if opts.Datacenter == "" {
		opts.Datacenter = DefaultDatacenter
	}
	switch {
	case opts.MaxParallel < 0:
		return bad("MaxParallel %d is negative", opts.MaxParallel)
	case opts.MaxParallel == 0:
		opts.MaxParallel = DefaultMaxParallel
	}
	switch {
	case opts.HeartbeatInterval < 0:
		return bad("HeartbeatInterval %s is negative", opts.HeartbeatInterval)
	case opts.HeartbeatInterval == 0:
		opts.HeartbeatInterval = DefaultHeartbeatInterval
	}
	switch {
	case opts.HeartbeatTTL < 0:
		return bad("HeartbeatTTL %s is negative", opts.HeartbeatTTL)
	case opts.HeartbeatTTL == 0:
		opts.HeartbeatTTL = DefaultHeartbeatTTL
	}
	if opts.ShutdownGrace < 0 {
		return bad("ShutdownGrace %s is negative", opts.ShutdownGrace)
	}
	if opts.HeartbeatTTL <= opts.HeartbeatInterval {
		return bad("HeartbeatTTL %s must exceed HeartbeatInterval %s", opts.HeartbeatTTL, opts.HeartbeatInterval)
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	opts.Meta = cloneMap(opts.Meta)
	opts.ClientOptions = cloneMap(opts.ClientOptions)
	if _, err := parsePolicy(opts.ClientOptions); err != nil {
		return bad("%v", err)
	}
	return &Runner{
		opts: opts,
		log:  opts.Logger.With().Str("component", "runner").Str("node", opts.Name).Logger(),
	}, nil
}

// Run registers the node, executes the runs launched on it, and blocks until ctx is
// done. It then stops consuming (the launches it has not claimed stay in the stream
// for another runner of the node, or to be placed again once the node left), marks
// the node as stopping, and waits up to ShutdownGrace for the runs executing here to
// end on their own. It stops those still running after it (SIGTERM to each process
// group, SIGKILL after the task's kill timeout) and records them failed with
// "agent shut down" and the grace they outlived. It keeps heartbeating until every
// run is recorded, so that the node is not judged down and its runs lost meanwhile,
// marks the node as left, and returns nil. Every goroutine it starts has ended when
// it returns. Run returns an error without waiting for ctx only when the node ID
// cannot be loaded or made, or when the runner is already running.
func (r *Runner) Run(ctx context.Context) error {
	r.mu.Lock()
	if r.running {
		r.mu.Unlock()
		return ErrAlreadyRunning
	}
	r.running = true
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.running = false
		r.mu.Unlock()
	}()

	id, err := loadNodeID(r.opts.DataDir)
	if err != nil {
		return err
	}
	s := newSession(r, id)
	return s.run(ctx)
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}
