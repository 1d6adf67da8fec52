package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/jetcron/jetcron/subjects"
)

// outputDrainTimeout bounds the wait for a run's output after its process group is
// gone (a process that left the group may still hold the pipe).
const outputDrainTimeout = 2 * time.Second

// spawn starts cmd in its own process group, its stdout and stderr into one pipe
// copied to out, and waits for it to end: on its own, at its timeout (SIGTERM to the group, SIGKILL
// after killTimeout), when ctx is done at shutdown (the same, for the reason that is
// ctx's cause), or at once with SIGKILL when the fence loop finds the run declared
// lost. Whatever is left of the group when its leader ends is killed.
func (s *session) spawn(ctx context.Context, e *execution, cmd *exec.Cmd, out io.Writer, timeout, killTimeout time.Duration, log zerolog.Logger) outcome {
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
	o.lost, o.shutdown = lost, shutdown && !lost
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
