package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/jetcron/jetcron/job"
	"github.com/jetcron/jetcron/subjects"
)

// Reasons a run is stopped by the runner rather than ending on its own.
const (
	// ReasonShutdown is the error of a run stopped because its agent shut down.
	ReasonShutdown = "agent shut down"
	// ReasonLost is the error of a run killed because its record says it is no
	// longer this node's (declared lost while this process was paused).
	ReasonLost = "declared lost elsewhere; killed"
	// ReasonFinishedLost is the reason of the event published when a run ends after
	// its allocation was declared lost: its outcome is not recorded.
	ReasonFinishedLost = "run finished after being declared lost"
)

// outputDrainTimeout bounds the wait for a run's output after its process group is
// gone (a process that left the group may still hold the pipe).
const outputDrainTimeout = 2 * time.Second

// execution is a run executing here: what the fence loop needs to stop it.
type execution struct {
	allocID  string
	key      string
	claimRev uint64 // the record's revision written by the claim
	log      zerolog.Logger

	lost     chan struct{} // closed to kill the process group at once
	lostOnce sync.Once

	mu       sync.Mutex
	finished bool // the process is gone; the outcome is being recorded
}

// kill asks for the run's process group to be killed, unless the run already
// finished. It reports whether the request is new.
func (e *execution) kill() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.finished {
		return false
	}
	killed := false
	e.lostOnce.Do(func() {
		close(e.lost)
		killed = true
	})
	return killed
}

func (e *execution) finish() {
	e.mu.Lock()
	e.finished = true
	e.mu.Unlock()
}

func (e *execution) isFinished() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.finished
}

// outcome is how a run ended.
type outcome struct {
	state    subjects.RunState
	exitCode *int
	err      string
	output   []byte
	lost     bool
}

func failed(err error) outcome {
	return outcome{state: subjects.StateFailed, err: err.Error()}
}

// execute runs a claimed launch to its end and records how it ended. It calls
// release (which frees the run's slot) as soon as the command has exited, before the
// outcome is written: the slot bounds the commands executing, not the writes.
func (s *session) execute(ctx context.Context, key string, l *subjects.Launch, c *claimed, release func(), log zerolog.Logger) {
	e := &execution{allocID: l.AllocID, key: key, claimRev: c.rev, log: log, lost: make(chan struct{})}
	s.mu.Lock()
	s.execs[l.AllocID] = e
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.execs, l.AllocID)
		s.mu.Unlock()
	}()

	log.Info().Int64("late_ms", int64(l.Late)).Msg("run claimed")
	s.event(subjects.Event{
		RunID: l.RunID, Job: l.Job, State: subjects.StateRunning, Node: s.opts.Name,
		AllocID: l.AllocID, Late: l.Late, Time: c.started,
	}, log)

	out := s.runTask(ctx, e, l, log)
	e.finish()
	release()
	finished := s.opts.Clock.Now().UTC()
	// No output, no write (a burst of quiet jobs costs the servers one write less
	// each), unless an earlier allocation of the run may have left some.
	if len(out.output) > 0 || l.Alloc > 1 {
		s.storeOutput(key, out.output, log)
	}
	s.recordOutcome(key, l, c, out, finished, log)
}

// runTask checks the launch's task against this node's policy and runs its command.
func (s *session) runTask(ctx context.Context, e *execution, l *subjects.Launch, log zerolog.Logger) outcome {
	var task job.Task
	if err := json.Unmarshal(l.Task, &task); err != nil {
		return failed(fmt.Errorf("decode task: %w", err))
	}
	if task.Driver != DriverRawExec && task.Driver != "" { // "" is the job file's default
		return failed(fmt.Errorf("%w %q: this node has only %s", ErrUnknownDriver, task.Driver, DriverRawExec))
	}
	if !s.rawExec {
		return failed(ErrDriverDisabled)
	}
	command := task.Config.Command
	if err := checkCommand(command); err != nil {
		return failed(err)
	}
	if !s.policy.commandAllowed(command) {
		return failed(fmt.Errorf("%w: %s", ErrCommandNotAllowed, command))
	}
	as, err := s.runAs(task.User)
	if err != nil {
		return failed(err)
	}
	args := make([]string, 0, 1+len(task.Config.Args))
	args = append(args, command)
	for _, a := range task.Config.Args {
		args = append(args, job.Interpolate(a, s.attrs))
	}
	dir, err := s.workDir(l.AllocID, as)
	if err != nil {
		return failed(err)
	}
	defer func() {
		if err := os.RemoveAll(dir); err != nil {
			log.Warn().Err(err).Str("dir", dir).Msg("remove working directory")
		}
	}()
	attr := sysProcAttr()
	if as != nil {
		attr.Credential = as.credential()
		log.Debug().Str("user", as.name).Msg("running as the task's user")
	}
	select {
	case <-ctx.Done():
		return outcome{state: subjects.StateFailed, err: context.Cause(ctx).Error()}
	case <-e.lost:
		return outcome{state: subjects.StateFailed, err: ReasonLost, lost: true}
	default:
	}
	cmd := &exec.Cmd{
		Path:        command,
		Args:        args,
		Env:         s.environ(&task, l, as),
		Dir:         dir,
		SysProcAttr: attr,
	}
	killTimeout := time.Duration(task.KillTimeout)
	if killTimeout <= 0 {
		killTimeout = DefaultKillTimeout
	}
	return s.spawn(ctx, e, cmd, time.Duration(task.Timeout), killTimeout, log)
}

// workDir makes a fresh working directory for an allocation: under DataDir/runs for
// the runner's own user; for a run as another user, a new private directory of
// that user's in the system's temporary directory, since the data dir is not
// theirs to enter.
func (s *session) workDir(allocID string, as *runUser) (string, error) {
	if as == nil {
		dir := filepath.Join(s.opts.DataDir, "runs", subjects.Token(allocID))
		if err := os.RemoveAll(dir); err != nil {
			return "", fmt.Errorf("clear working directory: %w", err)
		}
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return "", fmt.Errorf("make working directory: %w", err)
		}
		return dir, nil
	}
	dir, err := os.MkdirTemp("", "jetcron-run-"+subjects.Token(allocID)+"-")
	if err != nil {
		return "", fmt.Errorf("make working directory: %w", err)
	}
	if err := os.Chown(dir, int(as.uid), int(as.gid)); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("give the working directory to %s: %w", as.name, err)
	}
	return dir, nil
}

// environ is the agent's environment (only the variables the env allow-list names,
// if there is one), then HOME, USER and LOGNAME of the task's user if the run
// switches to one, then the task's env, then the JETCRON_ variables; a later value of
// a name wins (os/exec keeps the last).
func (s *session) environ(task *job.Task, l *subjects.Launch, as *runUser) []string {
	env := s.policy.environ()
	if as != nil {
		env = append(env, "HOME="+as.home, "USER="+as.name, "LOGNAME="+as.name)
	}
	names := make([]string, 0, len(task.Env))
	for k := range task.Env {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		env = append(env, k+"="+task.Env[k])
	}
	return append(env,
		"JETCRON_JOB="+l.Job,
		"JETCRON_RUN_ID="+l.RunID,
		"JETCRON_NODE="+s.opts.Name,
		"JETCRON_DC="+s.opts.Datacenter,
		"JETCRON_SCHEDULED="+strconv.FormatInt(l.Scheduled, 10),
		"JETCRON_ALLOC_ID="+l.AllocID,
	)
}

// spawn starts cmd in its own process group, its stdout and stderr into one pipe,
// and waits for it to end: on its own, at its timeout (SIGTERM to the group, SIGKILL
// after killTimeout), when ctx is done at shutdown (the same, for the reason that is
// ctx's cause), or at once with SIGKILL when the fence loop finds the run declared
// lost. Whatever is left of the group when its leader ends is killed.
func (s *session) spawn(ctx context.Context, e *execution, cmd *exec.Cmd, timeout, killTimeout time.Duration, log zerolog.Logger) outcome {
	pr, pw, err := os.Pipe()
	if err != nil {
		return failed(fmt.Errorf("make output pipe: %w", err))
	}
	defer pr.Close()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		pw.Close()
		return failed(fmt.Errorf("start %s: %w", cmd.Path, err))
	}
	pw.Close()
	pgid := cmd.Process.Pid
	log.Debug().Int("pid", pgid).Msg("process started")

	out := newTail(OutputTailSize)
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		_, _ = io.Copy(out, pr)
	}()
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()

	var timeoutC <-chan time.Time
	if timeout > 0 {
		t := s.opts.Clock.NewTimer(timeout)
		defer t.Stop()
		timeoutC = t.C
	}
	var (
		reason         string
		lost, shutdown bool
		werr           error
	)
	select {
	case werr = <-waited:
	case <-timeoutC:
		reason = "timed out after " + timeout.String()
		log.Warn().Float64("timeout_s", timeout.Seconds()).Msg("run timed out; stopping its process group")
		werr, lost = s.terminate(pgid, killTimeout, waited, e.lost, log)
	case <-ctx.Done():
		reason, shutdown = context.Cause(ctx).Error(), true
		log.Info().Str("reason", reason).Msg("agent shutting down; stopping the run's process group")
		werr, lost = s.terminate(pgid, killTimeout, waited, e.lost, log)
	case <-e.lost:
		lost = true
		signalGroup(pgid, syscall.SIGKILL, log)
		werr = <-waited
	}
	if lost {
		reason = ReasonLost
	}
	// The leader is gone: no member of its group may outlive the run.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	select {
	case <-copied:
	case <-time.After(outputDrainTimeout):
		log.Warn().Msg("output pipe still open after the process group ended; closing it")
		pr.Close()
		<-copied
	}

	o := exitOutcome(werr)
	o.output = out.Bytes()
	o.lost = lost
	if reason != "" {
		o.state = subjects.StateFailed
		switch {
		case shutdown && !lost, o.err == "":
			o.err = reason
		default:
			o.err = reason + " (" + o.err + ")"
		}
	}
	return o
}

// terminate sends SIGTERM to the group, waits up to killTimeout for its leader to
// end, then sends SIGKILL (at once if the run is found lost meanwhile).
func (s *session) terminate(pgid int, killTimeout time.Duration, waited <-chan error, lostC <-chan struct{}, log zerolog.Logger) (err error, lost bool) {
	signalGroup(pgid, syscall.SIGTERM, log)
	t := s.opts.Clock.NewTimer(killTimeout)
	defer t.Stop()
	select {
	case err := <-waited:
		return err, false
	case <-t.C:
		log.Warn().Float64("kill_timeout_s", killTimeout.Seconds()).Msg("process group still running after SIGTERM; killing it")
	case <-lostC:
		lost = true
	}
	signalGroup(pgid, syscall.SIGKILL, log)
	return <-waited, lost
}

func signalGroup(pgid int, sig syscall.Signal, log zerolog.Logger) {
	if err := syscall.Kill(-pgid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		log.Warn().Err(err).Int("pgid", pgid).Str("signal", sig.String()).Msg("signal process group")
	}
}

// exitOutcome reads cmd.Wait's result: complete on exit 0; failed with the exit
// code otherwise, 128+n for a process killed by signal n (as shells report it).
func exitOutcome(err error) outcome {
	if err == nil {
		zero := 0
		return outcome{state: subjects.StateComplete, exitCode: &zero}
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return failed(fmt.Errorf("wait: %w", err))
	}
	code := ee.ExitCode()
	msg := fmt.Sprintf("exit code %d", code)
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		code = 128 + int(ws.Signal())
		msg = "killed by signal " + strconv.Itoa(int(ws.Signal())) + " (" + ws.Signal().String() + ")"
	}
	return outcome{state: subjects.StateFailed, exitCode: &code, err: msg}
}

// storeOutput keeps the run's output tail in the logs bucket.
func (s *session) storeOutput(key string, data []byte, log zerolog.Logger) {
	// Retried for as long as the outcome is (a stream electing a leader answers
	// nothing for several seconds).
	ctx, cancel := context.WithTimeout(context.Background(), outcomeTimeout)
	defer cancel()
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		octx, ocancel := context.WithTimeout(ctx, opTimeout)
		_, err := s.logs.Put(octx, key, data)
		ocancel()
		if err == nil {
			return
		}
		if errors.Is(err, nats.ErrConnectionClosed) || !sleepCtx(ctx, wait) {
			log.Warn().Err(err).Msg("run output not stored")
			return
		}
	}
}

// recordOutcome writes the run's outcome with a revision-checked update from the
// claim's revision. If the record moved on because the allocation was declared
// lost (or re-placed) meanwhile, the record is kept as it is: states only move
// forward; the outcome is then only logged and published as an event.
func (s *session) recordOutcome(key string, l *subjects.Launch, c *claimed, out outcome, finished time.Time, log zerolog.Logger) {
	ev := subjects.Event{
		RunID: l.RunID, Job: l.Job, State: out.state, Node: s.opts.Name, AllocID: l.AllocID,
		ExitCode: out.exitCode, Duration: subjects.MillisOf(finished.Sub(c.started)), Reason: out.err, Time: finished,
	}
	done := func(lvl *zerolog.Event, msg string) {
		lvl.Str("state", string(out.state)).Dur("duration_ms", finished.Sub(c.started))
		if out.err != "" {
			lvl.Str("error", out.err)
		}
		if out.exitCode != nil {
			lvl.Int("exit_code", *out.exitCode)
		}
		lvl.Msg(msg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), outcomeTimeout)
	defer cancel()
	base, rev := c.run, c.rev
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		run := base
		run.Allocations = slices.Clone(base.Allocations)
		cur := run.Current()
		cur.State, cur.Finished, cur.ExitCode, cur.Error = out.state, &finished, out.exitCode, out.err
		run.State = out.state
		data, err := json.Marshal(&run)
		if err != nil {
			log.Error().Err(err).Msg("encode run record")
			return
		}
		octx, ocancel := context.WithTimeout(ctx, opTimeout)
		_, uerr := s.runs.Update(octx, key, data, rev)
		ocancel()
		if uerr == nil {
			done(finishedLevel(log, out.state), "run finished")
			s.event(ev, log)
			return
		}
		conflict := isRevisionConflict(uerr)
		if !conflict {
			log.Debug().Err(uerr).Msg("record outcome")
		}
		// The record moved on, or the write's outcome is unknown: read it.
		entry, err := getEntry(ctx, s.runs, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound) && ctx.Err() == nil:
			// The record existed at the claim's revision: a replica that lags behind
			// answered (records are never deleted before they expire). Read again.
			sleepCtx(ctx, staleReadWait)
			continue
		case err != nil:
			if ctx.Err() != nil || errors.Is(err, nats.ErrConnectionClosed) {
				done(log.Error().Err(err), "outcome not recorded")
				s.event(ev, log)
				return
			}
			sleepCtx(ctx, wait)
			continue
		}
		if entry.Revision() < rev || (entry.Revision() == rev && conflict) {
			// A stale read (gets are served by any replica): read again.
			sleepCtx(ctx, staleReadWait)
			continue
		}
		var fresh subjects.Run
		if err := json.Unmarshal(entry.Value(), &fresh); err != nil {
			done(log.Error().Err(err), "run record unreadable; outcome not recorded")
			s.event(ev, log)
			return
		}
		fc := fresh.Current()
		if fc != nil && fc.ID == l.AllocID && fc.Node == s.opts.Name && fc.NodeID == s.nodeID {
			if fc.State == subjects.StateRunning {
				// Changed elsewhere, or the write failed: still ours, apply again.
				base, rev = fresh, entry.Revision()
				if !conflict {
					sleepCtx(ctx, wait)
				}
				continue
			}
			if fc.State == out.state && fc.Finished != nil && fc.Finished.Equal(finished) {
				done(finishedLevel(log, out.state), "run finished") // the write that failed had landed
				s.event(ev, log)
				return
			}
		}
		now := subjects.StateLost
		if fc != nil {
			now = fc.State
		}
		log.Warn().Str("state", string(out.state)).Str("record_state", string(now)).Str("error", out.err).
			Msg(ReasonFinishedLost)
		ev.Reason = ReasonFinishedLost
		if out.err != "" {
			ev.Reason += ": " + out.err
		}
		s.event(ev, log)
		return
	}
}

// finishedLevel is the level of a run's "run finished" line: warn for a run that
// failed or was lost, so that failures stand out from the runs that completed.
func finishedLevel(log zerolog.Logger, state subjects.RunState) *zerolog.Event {
	if state == subjects.StateFailed || state == subjects.StateLost {
		return log.Warn()
	}
	return log.Info()
}
