package runner

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/jetcron/jetcron/subjects"
)

// This file is the restart of failed executions on their node, as Nomad's restart
// stanza in mode "fail": after an execution of a claimed run fails on its own (an
// exit code, a signal, a timeout, a start error), and the launch's restart policy
// has restarts left, the runner starts it again here after the policy's delay.
// A run killed because it was declared lost, or stopped by the agent's shutdown, is
// not restarted. Each restart is an allocation of the run record, made by the
// runner on its own node and session.
//
// Guarantee 1 (never two executions of a tick at once) holds across a pause of this
// host: every write here is revision-checked from the revision of this runner's own
// last write. If the ticker declared the run lost meanwhile (and may have placed it
// elsewhere), the write conflicts and nothing more starts here.

// nextAttempt is the restart that follows a failed execution: started in the record,
// its slot taken (release frees it), and its logger.
type nextAttempt struct {
	attempt *attempt
	release func()
	log     zerolog.Logger
}

// restartVerdict is what the restart rule makes of an execution's end.
type restartVerdict uint8

const (
	// restartNone: the run ends with this execution's outcome.
	restartNone restartVerdict = iota
	// restartStopping: a restart was due, but the runner is stopping: the run ends
	// failed, saying so.
	restartStopping
	// restartNext: the next restart is scheduled.
	restartNext
)

// nextRestart is the restart rule, as Nomad's restart stanza in mode "fail": an
// execution that failed is started again on this node while the policy has attempts
// left (done counts the restarts made so far); one killed as lost (the ticker may
// have placed the run elsewhere) or by the agent's shutdown is not, nor one that
// completed; and a runner that is stopping takes no new work, a restart included.
func nextRestart(out outcome, done int, pol subjects.Restart, stopping bool) restartVerdict {
	switch {
	case out.state != subjects.StateFailed || out.lost || out.shutdown || done >= pol.Attempts:
		return restartNone
	case stopping:
		return restartStopping
	}
	return restartNext
}

// afterAttempt records how the execution a ended, and returns the restart that
// follows it, if there is one. A run killed as lost is never restarted here (the
// ticker may have placed it elsewhere), nor one the agent's shutdown stopped.
func (s *session) afterAttempt(h *runHere, a *attempt, out outcome, finished time.Time, log zerolog.Logger) (nextAttempt, bool) {
	pol := h.launch.Restart
	switch nextRestart(out, a.restart, pol, s.stopping()) {
	case restartNone:
		s.recordOutcome(h, a, out, finished, log)
		return nextAttempt{}, false
	case restartStopping:
		out.err += "; " + shutdownBeforeRestart(a.restart+1, pol.Attempts)
		s.recordOutcome(h, a, out, finished, log)
		return nextAttempt{}, false
	}
	p, due, ok := s.scheduleRestart(h, a, out, finished, log)
	if !ok {
		return nextAttempt{}, false
	}
	return s.startRestart(h, p, due)
}

// scheduleRestart records, in one revision-checked write from the attempt's
// revision, that its execution failed and that restart n is due after the policy's
// delay: the attempt's allocation ends failed, and a queued allocation of this node
// and runner session is appended for the restart, with its reason. The run stays
// running: the ticker still counts it active (prohibit_overlap keeps the job's next
// tick from launching meanwhile), and still declares it lost if this node dies or
// its runner restarts before the restart starts (the queued allocation names this
// node and session). It returns the pending restart and when it is due; false when
// the record could not take the write (then the end is logged and published).
func (s *session) scheduleRestart(h *runHere, a *attempt, out outcome, finished time.Time, log zerolog.Logger) (*attempt, time.Time, bool) {
	pol := h.launch.Restart
	n := a.restart + 1
	due := finished.Add(pol.Delay.Duration())
	alloc := subjects.Allocation{
		ID: makeAllocID(), Node: s.opts.Name, NodeID: s.nodeID, Session: s.member.Session,
		State: subjects.StateQueued, Created: finished, Restart: n, RestartOf: pol.Attempts,
		Reason: restartReason(n, pol.Attempts, due, out.err),
	}
	ev := s.endEvent(h, a, out, finished)
	ctx, cancel := s.recordCtx()
	defer cancel()
	written, rev, err := s.updateRecord(ctx, recordUpdate{key: h.key, base: a.run, rev: a.rev, rebase: s.stillRunning(a.allocID),
		change: func(r *subjects.Run) {
			endAttempt(r.Current(), out, finished)
			r.Restarts++
			r.Allocations = append(r.Allocations, alloc)
		}})
	if err != nil {
		s.endNotRecorded(ev, out, &written, err, log)
		return nil, time.Time{}, false
	}
	finishedLog(log.Warn(), out, finished.Sub(a.started)).Int("next_restart", n).Int("restart_attempts", pol.Attempts).
		Int64("delay_ms", pol.Delay.Duration().Milliseconds()).Str("restart_alloc", alloc.ID).
		Msg("run failed; restarting it after the delay")
	// The execution's end, not the run's: an event of its own state, which metrics
	// and notifications do not count.
	ev.State, ev.Reason = subjects.StateRestarting, alloc.Reason
	s.events.Publish(ev)
	p := &attempt{run: written, rev: rev, allocID: alloc.ID, index: len(written.Allocations), restart: n}
	return p, due, true
}

// startRestart waits on the runner's clock until the restart p is due, and for a
// free slot, then starts it in the record: a revision-checked update from the
// revision of the write that scheduled it (allocation running, started). If the
// record changed meanwhile (the ticker declared the run lost while this host was
// paused, and may have placed it elsewhere), nothing starts. If the agent begins to
// stop meanwhile, the run ends failed instead (abandonRestart).
func (s *session) startRestart(h *runHere, p *attempt, due time.Time) (nextAttempt, bool) {
	log := h.attemptLog(p)
	t := s.opts.Clock.NewTimer(due.Sub(s.opts.Clock.Now()))
	defer t.Stop()
	select {
	case <-t.C:
	case <-s.stopBegun:
	}
	slot := false
	if !s.stopping() {
		select {
		case s.sem <- struct{}{}:
			slot = true
		case <-s.stopBegun:
		}
	}
	var once sync.Once
	release := func() {
		once.Do(func() {
			if slot {
				<-s.sem
			}
		})
	}
	if s.stopping() {
		release()
		s.abandonRestart(h, p, log)
		return nextAttempt{}, false
	}

	now := s.opts.Clock.Now().UTC()
	ctx, cancel := s.recordCtx()
	defer cancel()
	written, rev, err := s.updateRecord(ctx, recordUpdate{key: h.key, base: p.run, rev: p.rev,
		change: func(r *subjects.Run) {
			cur := r.Current()
			cur.State, cur.Started = subjects.StateRunning, &now
		}})
	switch {
	case errors.Is(err, errRecordMoved):
		release()
		l := log.Warn().Str("record_state", recordState(&written))
		if cur := written.Current(); cur != nil {
			l = l.Str("record_alloc", cur.ID).Str("record_node", cur.Node)
		}
		l.Msg("restart not started: the run record changed during the restart delay (declared lost while this host was paused?)")
		return nextAttempt{}, false
	case err != nil:
		release()
		log.Error().Err(err).Msg("restart not started: its start could not be recorded")
		return nextAttempt{}, false
	}
	log.Info().Msg("restart started")
	s.events.Publish(subjects.Event{
		RunID: h.launch.RunID, Job: h.launch.Job, State: subjects.StateRunning, Node: s.opts.Name,
		AllocID: p.allocID, Reason: written.Current().Reason, Restart: p.restart, Time: now,
	})
	a := &attempt{run: written, rev: rev, allocID: p.allocID, index: p.index, restart: p.restart, started: now}
	return nextAttempt{attempt: a, release: release, log: log}, true
}

// abandonRestart ends the run failed when its agent stops before the pending restart
// p started: p's allocation, never started, is failed with a reason that names the
// restart. A record that moved on meanwhile (declared lost) is left as it is.
func (s *session) abandonRestart(h *runHere, p *attempt, log zerolog.Logger) {
	now := s.opts.Clock.Now().UTC()
	reason := shutdownBeforeRestart(p.restart, h.launch.Restart.Attempts)
	ctx, cancel := s.recordCtx()
	defer cancel()
	written, _, err := s.updateRecord(ctx, recordUpdate{key: h.key, base: p.run, rev: p.rev,
		rebase: func(r *subjects.Run) bool {
			cur := r.Current()
			return s.ours(cur, p.allocID) && cur.State == subjects.StateQueued
		},
		change: func(r *subjects.Run) {
			cur := r.Current()
			cur.State, cur.Finished, cur.Error = subjects.StateFailed, &now, reason
			r.State = subjects.StateFailed
		}})
	ev := subjects.Event{
		RunID: h.launch.RunID, Job: h.launch.Job, State: subjects.StateFailed, Node: s.opts.Name,
		AllocID: p.allocID, Reason: reason, Restart: p.restart, Time: now,
	}
	switch {
	case errors.Is(err, errRecordMoved):
		log.Warn().Str("record_state", recordState(&written)).
			Msg("restart not started: the agent is stopping, and the run record changed during the restart delay")
		return
	case err != nil:
		log.Error().Err(err).Str("error", reason).Msg("outcome not recorded")
	default:
		log.Warn().Str("state", string(subjects.StateFailed)).Str("error", reason).Msg("run finished")
	}
	s.events.Publish(ev)
}

// attemptLog is the logger of an attempt: the run's, with its allocation and, for
// a restart, which one it is.
func (h *runHere) attemptLog(a *attempt) zerolog.Logger {
	c := h.log.With().Str("alloc", a.allocID)
	if a.restart > 0 {
		c = c.Int("restart", a.restart)
	}
	return c.Logger()
}

// restartReason is the reason of restart n of the policy's attempts, due at due,
// after an execution that failed with err.
func restartReason(n, attempts int, due time.Time, err string) string {
	return fmt.Sprintf("restart %d of %d at %s after %s", n, attempts, due.UTC().Format(time.RFC3339), err)
}

// shutdownBeforeRestart is the error of a run whose agent shut down before its
// restart n of the policy's attempts could start.
func shutdownBeforeRestart(n, attempts int) string {
	return fmt.Sprintf("%s before restart %d of %d", ReasonShutdown, n, attempts)
}

// makeAllocID is a new allocation ID: 8 hex digits, as the ticker makes them.
func makeAllocID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
