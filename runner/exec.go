package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"

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

// execution is a run's command executing here: what the fence loop needs to stop it.
type execution struct {
	allocID string
	key     string
	// rev is the record's revision written by the write that started it: the claim,
	// or a restart's start.
	rev uint64
	log zerolog.Logger

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

// outcome is how one execution ended.
type outcome struct {
	state    subjects.RunState
	exitCode *int
	err      string
	// lost: killed because the run was declared lost; shutdown: stopped because the
	// agent shut down. Neither is restarted.
	lost, shutdown bool
}

func failed(err error) outcome {
	return outcome{state: subjects.StateFailed, err: err.Error()}
}

// runHere is a run on this node, from its claim to its end, across its restarts.
type runHere struct {
	key    string
	launch *subjects.Launch
	// log is the run's logger, with its job and run ID (attemptLog adds the rest).
	log zerolog.Logger
	// task is the launch's task; taskErr why it could not be read (every
	// execution then fails with it).
	task    job.Task
	taskErr error
	// dir is the fresh working directory made for the run, if one was.
	dir string
	// The run's output stream is what its executions print, each restart's after a
	// line that names it: out writes it to tail, which keeps the last
	// OutputTailSize bytes and counts them all, and to live, which publishes it.
	out  io.Writer
	tail *tail
	live *live
}

// restarting writes the line that opens a restart's output, on a line of its own:
// its allocation's reason.
func (h *runHere) restarting(a *attempt) {
	var line []byte
	if h.tail.midLine() {
		line = append(line, '\n')
	}
	line = fmt.Appendf(line, "--- jetcron: %s ---\n", a.run.Current().Reason)
	_, _ = h.out.Write(line)
}

// cleanup removes the run's fresh working directory, if it has one.
func (h *runHere) cleanup(log zerolog.Logger) {
	if h.dir == "" {
		return
	}
	if err := os.RemoveAll(h.dir); err != nil {
		log.Warn().Err(err).Str("dir", h.dir).Msg("remove working directory")
	}
}

// execute runs a claimed launch to its end and records how it ended: its first
// execution and, while they fail and the launch's restart policy has restarts
// left, its restarts on this node (restart.go). It calls release (which frees the
// run's slot) as soon as the command has exited, before the end is written: the
// slot bounds the commands executing, not the writes; a restart takes a slot again.
// runLog is the run's logger, without an allocation.
func (s *session) execute(ctx context.Context, key string, l *subjects.Launch, a *attempt, release func(), runLog zerolog.Logger) {
	h := &runHere{key: key, launch: l, log: runLog, tail: newTail(OutputTailSize)}
	if err := json.Unmarshal(l.Task, &h.task); err != nil {
		h.taskErr = fmt.Errorf("decode task: %w", err)
	}
	defer h.cleanup(runLog)
	h.live = startLive(subjects.OutputSubject(key), s.opts.Conn.PublishMsg, s.opts.Clock, runLog)
	defer h.live.close()
	h.out = io.MultiWriter(h.tail, h.live)

	log := h.attemptLog(a)
	log.Info().Int64("late_ms", int64(l.Late)).Msg("run claimed")
	s.events.Publish(subjects.Event{
		RunID: l.RunID, Job: l.Job, State: subjects.StateRunning, Node: s.opts.Name,
		AllocID: a.allocID, Late: l.Late, Time: a.started,
	})
	for {
		out := s.runAttempt(ctx, h, a, log)
		release()
		finished := s.opts.Clock.Now().UTC()
		// Live followers get the execution's last lines before its stored tail.
		h.live.flush()
		// No output, no write (a burst of quiet jobs costs the servers one write less
		// each), unless an earlier allocation of the run may have left some.
		if h.tail.Total() > 0 || a.index > 1 {
			s.storeOutput(key, h.tail, log)
		}
		next, ok := s.afterAttempt(h, a, out, finished, log)
		if !ok {
			return
		}
		a, release = next.attempt, next.release
		log = next.log
		h.restarting(a)
	}
}

// runAttempt executes the attempt's command once, where the fence loop can kill it.
func (s *session) runAttempt(ctx context.Context, h *runHere, a *attempt, log zerolog.Logger) outcome {
	e := &execution{allocID: a.allocID, key: h.key, rev: a.rev, log: log, lost: make(chan struct{})}
	s.mu.Lock()
	s.execs[a.allocID] = e
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.execs, a.allocID)
		s.mu.Unlock()
	}()
	out := s.runTask(ctx, e, h, a, log)
	e.finish()
	return out
}
