package runner

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/jetcron/jetcron/subjects"
)

// storeOutput keeps the run's output tail in the logs bucket, under key; one that
// lost its start begins with its cut line and carries subjects.OutputCutHeader.
func (s *session) storeOutput(key string, t *tail, log zerolog.Logger) {
	msg := nats.NewMsg(subjects.KVSubject(subjects.LogsBucket, key))
	var cut int64
	msg.Data, cut = t.Stored()
	if cut > 0 {
		msg.Header.Set(subjects.OutputCutHeader, strconv.FormatInt(cut, 10))
	}
	// Retried for as long as the outcome is (a stream electing a leader answers
	// nothing for several seconds).
	ctx, cancel := context.WithTimeout(context.Background(), outcomeTimeout)
	defer cancel()
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		octx, ocancel := context.WithTimeout(ctx, opTimeout)
		_, err := s.opts.JS.PublishMsg(octx, msg)
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

// endAttempt writes how an execution ended into its allocation.
func endAttempt(cur *subjects.Allocation, out outcome, finished time.Time) {
	cur.State, cur.Finished, cur.ExitCode, cur.Error = out.state, &finished, out.exitCode, out.err
}

// stillRunning says whether a record another writer changed still shows the
// attempt's allocation running on this node: a write that ends it may then be
// applied to that record.
func (s *session) stillRunning(allocID string) func(*subjects.Run) bool {
	return func(r *subjects.Run) bool {
		cur := r.Current()
		return s.ours(cur, allocID) && cur.State == subjects.StateRunning
	}
}

// endEvent is the event of an execution's end.
func (s *session) endEvent(h *runHere, a *attempt, out outcome, finished time.Time) subjects.Event {
	return subjects.Event{
		RunID: h.launch.RunID, Job: h.launch.Job, State: out.state, Node: s.opts.Name, AllocID: a.allocID,
		ExitCode: out.exitCode, Duration: subjects.MillisOf(finished.Sub(a.started)), Reason: out.err,
		Restart: a.restart, Time: finished,
	}
}

// recordOutcome writes the run's outcome, the end of its last execution, with a
// revision-checked update from the attempt's revision. If the record moved on
// because the allocation was declared lost (or re-placed) meanwhile, the record is
// kept as it is: states only move forward; the outcome is then only logged and
// published as an event.
func (s *session) recordOutcome(h *runHere, a *attempt, out outcome, finished time.Time, log zerolog.Logger) {
	ev := s.endEvent(h, a, out, finished)
	ctx, cancel := s.recordCtx()
	defer cancel()
	now, _, err := s.updateRecord(ctx, recordUpdate{key: h.key, base: a.run, rev: a.rev, rebase: s.stillRunning(a.allocID),
		change: func(r *subjects.Run) {
			endAttempt(r.Current(), out, finished)
			r.State = out.state
		}})
	if err != nil {
		s.endNotRecorded(ev, out, &now, err, log)
		return
	}
	finishedLog(finishedLevel(log, out.state), out, finished.Sub(a.started)).Msg("run finished")
	s.events.Publish(ev)
}

// endNotRecorded logs and publishes the end of an execution whose record could not
// take it: err is updateRecord's, now the record it returned. When the record moved
// on (the run was declared lost meanwhile), the event says so.
func (s *session) endNotRecorded(ev subjects.Event, out outcome, now *subjects.Run, err error, log zerolog.Logger) {
	if !errors.Is(err, errRecordMoved) {
		finishedLog(log.Error().Err(err), out, ev.Duration.Duration()).Msg("outcome not recorded")
		s.events.Publish(ev)
		return
	}
	finishedLog(log.Warn(), out, ev.Duration.Duration()).Str("record_state", recordState(now)).Msg(ReasonFinishedLost)
	ev.State = out.state
	ev.Reason = ReasonFinishedLost
	if out.err != "" {
		ev.Reason += ": " + out.err
	}
	s.events.Publish(ev)
}

// recordState is the state of a record's current allocation, for the logs: lost
// when the record could not be read after a conflict (the ticker's usual reason).
func recordState(r *subjects.Run) string {
	if cur := r.Current(); cur != nil {
		return string(cur.State)
	}
	return string(subjects.StateLost)
}

// finishedLog adds an execution's end to a log line.
func finishedLog(lvl *zerolog.Event, out outcome, took time.Duration) *zerolog.Event {
	lvl.Str("state", string(out.state)).Dur("duration_ms", took)
	if out.err != "" {
		lvl.Str("error", out.err)
	}
	if out.exitCode != nil {
		lvl.Int("exit_code", *out.exitCode)
	}
	return lvl
}

// finishedLevel is the level of a run's "run finished" line: warn for a run that
// failed or was lost, so that failures stand out from the runs that completed.
func finishedLevel(log zerolog.Logger, state subjects.RunState) *zerolog.Event {
	if state == subjects.StateFailed || state == subjects.StateLost {
		return log.Warn()
	}
	return log.Info()
}
