package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/rs/zerolog"

	"github.com/jetcron/jetcron/job"
	"github.com/jetcron/jetcron/subjects"
)

// runTask checks the run's task against this node's policy and runs its command
// once, as the attempt a.
func (s *session) runTask(ctx context.Context, e *execution, h *runHere, a *attempt, log zerolog.Logger) outcome {
	if h.taskErr != nil {
		return failed(h.taskErr)
	}
	task := &h.task
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
	dir, err := s.workDir(h, as)
	if err != nil {
		return failed(err)
	}
	attr := sysProcAttr()
	if as != nil {
		attr.Credential = as.credential()
		log.Debug().Str("user", as.name).Msg("running as the task's user")
	}
	select {
	case <-ctx.Done():
		return outcome{state: subjects.StateFailed, err: context.Cause(ctx).Error(), shutdown: true}
	case <-e.lost:
		return outcome{state: subjects.StateFailed, err: ReasonLost, lost: true}
	default:
	}
	cmd := &exec.Cmd{
		Path:        command,
		Args:        args,
		Env:         s.environ(task, h.launch, a.allocID, as),
		Dir:         dir,
		SysProcAttr: attr,
	}
	killTimeout := time.Duration(task.KillTimeout)
	if killTimeout <= 0 {
		killTimeout = DefaultKillTimeout
	}
	return s.spawn(ctx, e, cmd, h.out, time.Duration(task.Timeout), killTimeout, log)
}

// workDir is the directory the run's command runs in. The task's work_dir is used
// as it is: it must exist on this node, and jetcron never makes nor removes it.
// Without one, the run gets a fresh directory at its first execution, kept for its
// restarts (as Nomad keeps a task's directory across its restarts) and removed when
// the run ends (runHere.cleanup). The output never goes through it: it is read
// from a pipe.
func (s *session) workDir(h *runHere, as *runUser) (string, error) {
	if dir := h.task.WorkDir; dir != "" {
		fi, err := os.Stat(dir)
		switch {
		case errors.Is(err, os.ErrNotExist):
			return "", fmt.Errorf("work_dir %s does not exist on node %s", dir, s.opts.Name)
		case err != nil:
			return "", fmt.Errorf("work_dir %s on node %s: %w", dir, s.opts.Name, err)
		case !fi.IsDir():
			return "", fmt.Errorf("work_dir %s is not a directory on node %s", dir, s.opts.Name)
		}
		return dir, nil
	}
	if h.dir == "" {
		dir, err := s.freshDir(h.launch.AllocID, as)
		if err != nil {
			return "", err
		}
		h.dir = dir
	}
	return h.dir, nil
}

// freshDir makes a fresh working directory for an allocation: under DataDir/runs for
// the runner's own user; for a run as another user, a new private directory of
// that user's in the system's temporary directory, since the data dir is not
// theirs to enter.
func (s *session) freshDir(allocID string, as *runUser) (string, error) {
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
// a name wins (os/exec keeps the last). JETCRON_ALLOC_ID is the execution's own
// allocation: a restart has one of its own.
func (s *session) environ(task *job.Task, l *subjects.Launch, allocID string, as *runUser) []string {
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
		"JETCRON_ALLOC_ID="+allocID,
	)
}
