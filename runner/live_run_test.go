package runner

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/jetcron/jetcron/operator"
	"github.com/jetcron/jetcron/subjects"
)

// follower is operator.FollowRun of one run, in the background: each call it makes,
// and its end.
type follower struct {
	calls chan operator.RunOutput
	done  chan error
	fresh strings.Builder // every call's Fresh, in order
}

func (e *testEnv) follow(t *testing.T, runID string) *follower {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	f := &follower{calls: make(chan operator.RunOutput, 1000), done: make(chan error, 1)}
	op := operator.New(e.nc, e.js, "test")
	go func() {
		f.done <- op.FollowRun(ctx, runID, func(o operator.RunOutput) error {
			f.calls <- o
			return nil
		})
	}()
	return f
}

// next waits for a call whose output holds want, and returns it.
func (f *follower) next(t *testing.T, want string) operator.RunOutput {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case o := <-f.calls:
			f.fresh.WriteString(o.Fresh)
			if strings.Contains(o.Output, want) {
				return o
			}
		case err := <-f.done:
			t.Fatalf("the follow ended (%v) before its output held %q", err, want)
		case <-timeout:
			t.Fatalf("no output holding %q", want)
		}
	}
}

// end waits for the follow to end and returns its last call.
func (f *follower) end(t *testing.T) operator.RunOutput {
	t.Helper()
	var last operator.RunOutput
	for {
		select {
		case o := <-f.calls:
			f.fresh.WriteString(o.Fresh)
			last = o
		case err := <-f.done:
			if err != nil {
				t.Fatalf("follow: %v", err)
			}
			for len(f.calls) > 0 {
				last = <-f.calls
				f.fresh.WriteString(last.Fresh)
			}
			return last
		case <-time.After(30 * time.Second):
			t.Fatal("the follow did not end")
		}
	}
}

func touch(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

// waitFile is a shell function that waits until its file exists.
const waitFile = `wait_for() { while [ ! -e "$1" ]; do sleep 0.02; done; }
`

// A follower sees a line of a running run while the run still runs: the run prints
// it, then waits for the test, which lets it end only once the follower has it.
// Every line is given once, and the last call carries the stored output.
func TestAFollowerSeesARunningRunsLinesAsTheyArePrinted(t *testing.T) {
	e := newEnv(t, 1)
	opts := e.options(t, "n1")
	startRunner(t, opts)
	dir := t.TempDir()
	task := rawTask(script(t, waitFile+`wait_for "$DIR/ready"; echo first
wait_for "$DIR/go"; echo second
`))
	task.Env = map[string]string{"DIR": dir}
	l := e.launch(t, opts.Name, "live", tick(1), task)
	e.waitState(t, l, subjects.StateRunning, 15*time.Second)

	f := e.follow(t, l.RunID)
	f.next(t, "") // subscribed: the first call comes after
	touch(t, filepath.Join(dir, "ready"))
	if o := f.next(t, "first\n"); o.Run == nil || o.Run.State != subjects.StateRunning {
		t.Fatalf("first line seen with the run %+v, want it running", o.Run)
	}
	touch(t, filepath.Join(dir, "go"))
	last := f.end(t)
	if last.Output != "first\nsecond\n" || last.Run.State != subjects.StateComplete {
		t.Errorf("last call: output %q, run %s; want both lines, complete", last.Output, last.Run.State)
	}
	if got := f.fresh.String(); got != "first\nsecond\n" {
		t.Errorf("fresh text of all calls %q, want each line once", got)
	}
}

// A restarted run's live output is what its runner stores: the first execution's
// lines, the restart's line, the restart's lines, seen while the restart runs; a
// follower gives each once.
func TestAFollowerSeesARestartAndEachLineOnce(t *testing.T) {
	e := newEnv(t, 1)
	opts := e.options(t, "n1")
	startRunner(t, opts)
	dir := t.TempDir()
	task := rawTask(script(t, waitFile+`n=$(( $(cat count 2>/dev/null || echo 0) + 1 )); echo $n > count
echo "attempt $n"
[ $n -ge 2 ] || exit 3
wait_for go
`))
	task.WorkDir = dir
	l := e.place(t, opts.Name, "flaky", tick(1), task)
	l.Restart = subjects.Restart{Attempts: 1}
	f := e.follow(t, l.RunID)
	f.next(t, "") // subscribed before the run starts
	e.publish(t, l, subjects.MsgID(l.RunID, l.Alloc))

	o := f.next(t, "attempt 2\n")
	restart := o.Run.Current().Reason
	want := "attempt 1\n--- jetcron: " + restart + " ---\nattempt 2\n"
	if o.Output != want || o.Run.State != subjects.StateRunning {
		t.Errorf("while the restart runs: output %q, run %s; want %q, running", o.Output, o.Run.State, want)
	}
	touch(t, filepath.Join(dir, "go"))
	last := f.end(t)
	if last.Output != want || last.Run.State != subjects.StateComplete {
		t.Errorf("last call: output %q, run %s; want %q, complete", last.Output, last.Run.State, want)
	}
	if got := f.fresh.String(); got != want {
		t.Errorf("fresh text of all calls %q, want %q", got, want)
	}
}

// A run printing far more than the live rate allows: what is published live stays
// within the burst and the rate over the run's time, and notes say how many bytes
// were dropped: the two add up to what it printed.
func TestLiveOutputOfAFloodStaysWithinTheRateAndSaysWhatItDropped(t *testing.T) {
	e := newEnv(t, 1)
	opts := e.options(t, "n1")
	startRunner(t, opts)
	msgs := make(chan *nats.Msg, 100_000)
	sub, err := e.nc.ChanSubscribe(subjects.OutputSubject(subjects.RunKey("flood", tick(1))), msgs)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	line := strings.Repeat("0123456789", 10)
	const lines = 20_000
	printed := int64(lines * (len(line) + 1))

	start := time.Now()
	l := e.launch(t, opts.Name, "flood", tick(1), rawTask(script(t, "yes "+line+" | head -n "+strconv.Itoa(lines)+"\n")))
	e.waitState(t, l, subjects.StateComplete, 30*time.Second)
	elapsed := time.Since(start)
	// The runner publishes before it records the end, on one connection; the record
	// was read on the subscription's connection: every message is in by now.
	var sent, dropped int64
	var notes []string
	for len(msgs) > 0 {
		m := <-msgs
		if d := m.Header.Get(subjects.OutputDroppedHeader); d != "" {
			n, err := strconv.ParseInt(d, 10, 64)
			if err != nil {
				t.Fatalf("dropped header %q", d)
			}
			dropped += n
			notes = append(notes, string(m.Data))
			continue
		}
		sent += int64(len(m.Data))
	}
	if bound := liveBurst + int64(liveRate*elapsed.Seconds()); sent > bound {
		t.Errorf("%d bytes published live in %s, over the bound %d", sent, elapsed, bound)
	}
	if len(notes) == 0 || !strings.Contains(notes[0], "of output not sent live") {
		t.Errorf("notes %q, want one that says what was dropped", notes)
	}
	if sent+dropped != printed {
		t.Errorf("%d bytes sent and %d said dropped, want the %d printed", sent, dropped, printed)
	}
}
