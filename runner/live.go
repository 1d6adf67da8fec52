package runner

import (
	"bytes"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/jetcron/jetcron/clock"
	"github.com/jetcron/jetcron/subjects"
)

// This file is live output: while a run executes, what it prints is published on
// its output subject (subjects.OutputSubject) with core NATS publishes, in batches,
// within a rate per run. It reaches whoever listens at the time, at most once; the
// stored tail stays authoritative. Nothing here may slow the reading of the run's
// output pipe, nor fail the run: Write only queues or drops, under a mutex held for
// a copy; one goroutine per run publishes, and a publication that fails is lost.

// Bounds of a run's live output.
const (
	// liveFlushInterval: what a run prints within it goes out in one message (the
	// first line after a quiet spell goes at once).
	liveFlushInterval = 200 * time.Millisecond
	// liveBatchSize bounds the data of one message; a full batch goes out at once.
	liveBatchSize = 16 << 10
	// liveRate is how many bytes a second of a run's output are published live at
	// most, with liveBurst at once after a quiet spell. What is over is dropped and
	// the next message is a note that says how much (subjects.DroppedNote). liveBurst
	// also bounds what waits for a publication that does not return.
	liveRate  = 64 << 10
	liveBurst = 64 << 10
	// liveResume is how much room a run that is dropping its output must have
	// again before its lines are sent again: one note per resumption, not one a line.
	liveResume = liveBatchSize
)

// liveState is what admit remembers of a run's output between two writes.
type liveState struct {
	// dropping: bytes were dropped and the room has not come back to liveResume.
	dropping bool
	// midLine: the output is inside a line whose start was dropped.
	midLine bool
}

// admit decides what of p, the run's output just printed, is sent live when room
// bytes may be sent now. All of p when it fits and the run is not dropping. Else
// only whole lines: while dropping with less room than liveResume, nothing; the
// rest of a line whose start was dropped is skipped; then whatever fits, or its
// whole lines that fit, are kept. It returns how many bytes are skipped at the start
// of p, how many are kept after them (the rest of p is dropped), and the state after
// p.
func admit(p []byte, room int, st liveState) (skip, keep int, next liveState) {
	if len(p) == 0 {
		return 0, 0, st
	}
	endsLine := p[len(p)-1] == '\n'
	if st.dropping && room < liveResume {
		return len(p), 0, liveState{dropping: true, midLine: !endsLine}
	}
	if st.midLine {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			return len(p), 0, liveState{dropping: true, midLine: true}
		}
		skip = i + 1
	}
	rest := p[skip:]
	if len(rest) <= room {
		return skip, len(rest), liveState{}
	}
	keep = bytes.LastIndexByte(rest[:room], '\n') + 1
	return skip, keep, liveState{dropping: true, midLine: !endsLine}
}

// allowance is a token bucket of bytes: it fills at liveRate a second, up to
// liveBurst. Its zero value is full.
type allowance struct {
	tokens float64
	at     time.Time
}

// room fills the bucket up to now and returns how many whole bytes it holds.
func (a *allowance) room(now time.Time) int {
	switch {
	case a.at.IsZero():
		a.tokens, a.at = liveBurst, now
	case now.After(a.at):
		a.tokens, a.at = min(liveBurst, a.tokens+now.Sub(a.at).Seconds()*liveRate), now
	}
	return int(a.tokens)
}

// spend takes n bytes from the bucket.
func (a *allowance) spend(n int) { a.tokens -= float64(n) }

// liveMsg is one message to publish: data at offset off of the run's output stream,
// or, when dropped > 0, the note of dropped bytes (lines of them) just before off.
type liveMsg struct {
	off            int64
	data           []byte
	dropped, lines int64
}

// live publishes one run's output live. Make it with startLive; Write to it what
// the run prints (its restart lines included), flush it when an execution ends, and
// close it when the run ends.
type live struct {
	subject string
	publish func(*nats.Msg) error
	clock   clock.Clock
	log     zerolog.Logger

	mu     sync.Mutex
	next   int64 // the offset in the output stream of the next byte written
	allow  allowance
	state  liveState
	queue  []liveMsg
	queued int // data bytes in queue
	// dropped and droppedLines count what was dropped since the last message queued.
	dropped, droppedLines int64

	pubMu  sync.Mutex // one publication at a time, in the stream's order
	warned bool       // a publication failed: warned once (under pubMu)

	wake, full chan struct{} // 1-buffered: data queued; a batch is full
	stop, done chan struct{}
}

// startLive starts publishing the run's output on subject, each message with
// publish, and returns its writer.
func startLive(subject string, publish func(*nats.Msg) error, clk clock.Clock, log zerolog.Logger) *live {
	l := &live{
		subject: subject, publish: publish, clock: clk, log: log,
		wake: make(chan struct{}, 1), full: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	go l.run()
	return l
}

// Write queues what of p may go out live, and counts the rest as dropped. It never
// blocks on the network and never fails.
func (l *live) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	off := l.next
	l.next += int64(len(p))
	room := min(l.allow.room(l.clock.Now()), liveBurst-l.queued)
	skip, keep, next := admit(p, room, l.state)
	l.state = next
	l.allow.spend(keep)
	l.drop(p[:skip])
	if keep > 0 {
		l.enqueue(off+int64(skip), p[skip:skip+keep])
	}
	l.drop(p[skip+keep:])
	return len(p), nil
}

func (l *live) drop(p []byte) {
	l.dropped += int64(len(p))
	l.droppedLines += int64(bytes.Count(p, []byte{'\n'}))
}

// enqueue queues data at offset off, after the note of what was dropped before it;
// data joins the last message while it is contiguous and the batch has room.
func (l *live) enqueue(off int64, data []byte) {
	if len(l.queue) == 0 {
		signal(l.wake)
	}
	l.noteDropped(off)
	l.queued += len(data)
	for len(data) > 0 {
		n := len(l.queue)
		if n == 0 || l.queue[n-1].dropped > 0 || l.queue[n-1].off+int64(len(l.queue[n-1].data)) != off ||
			len(l.queue[n-1].data) == liveBatchSize {
			l.queue = append(l.queue, liveMsg{off: off})
			n++
		}
		last := &l.queue[n-1]
		c := min(len(data), liveBatchSize-len(last.data))
		last.data = append(last.data, data[:c]...)
		if len(last.data) == liveBatchSize {
			signal(l.full)
		}
		data, off = data[c:], off+int64(c)
	}
}

// noteDropped queues the note of what was dropped since the last message, which
// ends at off.
func (l *live) noteDropped(off int64) {
	if l.dropped == 0 {
		return
	}
	l.queue = append(l.queue, liveMsg{off: off, dropped: l.dropped, lines: l.droppedLines})
	l.dropped, l.droppedLines = 0, 0
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// run publishes the queue when data comes, then waits liveFlushInterval (or for a
// full batch) so that what follows goes out together; until close.
func (l *live) run() {
	defer close(l.done)
	for {
		select {
		case <-l.wake:
		case <-l.stop:
			l.flush()
			return
		}
		l.flush()
		t := l.clock.NewTimer(liveFlushInterval)
		select {
		case <-t.C:
		case <-l.full:
		case <-l.stop:
		}
		t.Stop()
	}
}

// flush publishes what is queued now, then the note of what was dropped since, if
// anything was. An execution's end flushes its output before it is stored.
func (l *live) flush() {
	l.pubMu.Lock()
	defer l.pubMu.Unlock()
	l.mu.Lock()
	l.noteDropped(l.next)
	msgs := l.queue
	l.queue, l.queued = nil, 0
	l.mu.Unlock()
	for _, m := range msgs {
		msg := nats.NewMsg(l.subject)
		msg.Header.Set(subjects.OutputOffsetHeader, strconv.FormatInt(m.off, 10))
		msg.Data = m.data
		if m.dropped > 0 {
			msg.Header.Set(subjects.OutputDroppedHeader, strconv.FormatInt(m.dropped, 10))
			msg.Data = []byte(subjects.DroppedNote(m.dropped, m.lines, liveRate))
		}
		if err := l.publish(msg); err != nil && !l.warned {
			l.warned = true
			l.log.Warn().Err(err).Str("subject", l.subject).Msg("live output not published; the stored tail will have it")
		}
	}
}

// close publishes what is left and stops.
func (l *live) close() {
	close(l.stop)
	<-l.done
}
