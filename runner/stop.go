package runner

import (
	"context"
	"errors"
	"strconv"
	"time"
)

// stopper is the part of a session that stops it gracefully.
type stopper struct {
	// runsCtx is the context the runs execute under. Only killRuns cancels it, with
	// the reason to record as its cause: when the shutdown grace is over (at once
	// without one), not when Run's ctx is done, so that runs outlive the end of
	// consuming.
	runsCtx  context.Context
	killRuns context.CancelCauseFunc
	// stopBegun is closed when the stop begins: a restart waiting for its delay
	// then ends the run failed instead of starting.
	stopBegun chan struct{}
}

// stopping reports whether the stop has begun; the heartbeats then write
// Member.Stopping.
func (s *session) stopping() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// stop ends the session's work once consuming has ended (Run's ctx is done). No
// launch is claimed from then on: one still delivered is given back with a nak, for
// another runner of the node or, once the node left, to be placed again. The runs
// executing here get the shutdown grace to end on their own, while the heartbeats go
// on and say the node is stopping, so that it is not judged down and its runs lost;
// those still running after it are killed, with a reason naming the grace. stop
// returns once every launch handler has ended: every run's outcome is recorded.
func (s *session) stop() {
	grace := s.opts.ShutdownGrace
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	close(s.stopBegun)
	running := s.executing()
	s.log.Info().Int("runs", len(running)).Float64("grace_s", grace.Seconds()).
		Msg("runner stopping: taking no more launches")
	for _, e := range running {
		e.log.Info().Float64("grace_s", grace.Seconds()).Msg("run still running at shutdown")
	}
	ended := make(chan struct{})
	go func() {
		s.handlers.Wait()
		close(ended)
	}()
	if grace > 0 {
		t := s.opts.Clock.NewTimer(grace)
		defer t.Stop()
		select {
		case <-ended:
		case <-t.C:
		}
	}
	for _, e := range s.executing() {
		e.log.Warn().Float64("grace_s", grace.Seconds()).Msg("run still running after the shutdown grace; killing it")
	}
	s.killRuns(errors.New(shutdownReason(grace)))
	<-ended
}

// executing lists the runs whose command has not exited yet.
func (s *session) executing() []*execution {
	s.mu.Lock()
	defer s.mu.Unlock()
	execs := make([]*execution, 0, len(s.execs))
	for _, e := range s.execs {
		if !e.isFinished() {
			execs = append(execs, e)
		}
	}
	return execs
}

// shutdownReason is the error recorded for a run killed because its agent shut
// down: ReasonShutdown, followed by the grace it outlived when there was one.
func shutdownReason(grace time.Duration) string {
	if grace <= 0 {
		return ReasonShutdown
	}
	return ReasonShutdown + ": still running after the " +
		strconv.FormatFloat(grace.Seconds(), 'f', -1, 64) + "s shutdown grace"
}
